package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check-config takes bare_newline = "normalize" or "reject", top level or
// a listener's, and refuses any other value at its line with the two it
// wants, exit 1 (SPEC: "file:line: reason").
func TestCheckConfigBareNewline(t *testing.T) {
	dir := t.TempDir()
	const listener = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte("hostname = \"mx.example.org\"\nbare_newline = \"reject\"\n"+listener+"bare_newline = \"normalize\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, "check-config", "-c", good); !strings.HasPrefix(out, good+": ok\n") {
		t.Fatalf("got:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("hostname = \"mx.example.org\"\n"+listener+"bare_newline = \"yes\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	if code := run([]string{"check-config", "-c", bad}, nil, &o, &e); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if got, want := strings.TrimSpace(e.String()), bad+`:5: bare_newline = "yes": want "normalize" or "reject"`; got != want {
		t.Fatalf("stderr %q\nwant   %q", got, want)
	}
}
