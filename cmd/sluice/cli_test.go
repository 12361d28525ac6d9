package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command in-process and returns stdout; it fails the test
// on a non-zero exit.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, nil, &out, &errb); code != 0 {
		t.Fatalf("sluice %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func TestCheckConfig(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the first-party plugins: this test binary as sluice
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(`hostname = "mx.example.org"
[[listener]]
listen = "127.0.0.1:2525"
[[stage]]
name = "first"
plugin = "headers"
[[stage]]
name = "second"
milter = "tcp:127.0.0.1:8891"
`), 0o600)
	out := runCLI(t, "check-config", "-c", good)
	if !strings.Contains(out, "1. first  plugin headers") || !strings.Contains(out, "2. second  milter tcp:127.0.0.1:8891") {
		t.Fatalf("pipeline not printed in order:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("hostname = \"x\"\n[[listener]]\nlisten = \"127.0.0.1:1\"\nkind = \"smtp\"\ncolour = \"blue\"\n"), 0o600)
	var o, e bytes.Buffer
	if code := run([]string{"check-config", "-c", bad}, nil, &o, &e); code != 1 {
		t.Fatalf("exit %d", code)
	}
	// SPEC: "exit 1 with file:line: reason": the line starts with the file.
	if got := strings.TrimSpace(e.String()); got != bad+":5: unknown key listener.colour" {
		t.Fatalf("stderr %q", got)
	}
}

func TestExitCodes(t *testing.T) {
	var o, e bytes.Buffer
	if code := run([]string{"queue", "list", "--admin", "127.0.0.1:1"}, nil, &o, &e); code != 2 {
		t.Fatalf("unreachable daemon: exit %d (%s)", code, e.String())
	}
	if code := run([]string{"queue", "show"}, nil, &o, &e); code != 1 {
		t.Fatalf("missing id: exit %d", code)
	}
	if code := run([]string{"frobnicate"}, nil, &o, &e); code != 1 {
		t.Fatalf("unknown command: exit %d", code)
	}
	if out := runCLI(t, "version"); !strings.HasPrefix(out, "sluice ") {
		t.Fatalf("version %q", out)
	}
}
