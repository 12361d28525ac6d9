package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// check-config fails on what would stop `sluice serve` at start, not only
// on what the config parser sees: a plugin refusing its [stage.config], a
// certificate that does not load, a users file that does not parse.
func TestCheckConfigCatchesWhatServeRefuses(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // first-party plugins run this test binary as sluice
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte("no colon here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"plugin config", head + "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
			"[[stage]]\nname = \"dk\"\nplugin = \"dkim\"\n[stage.config]\nmode = \"bogus\"\n",
			`stage "dk": plugin`},
		{"tls certificate", head + "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
			"tls_cert = \"junk.pem\"\ntls_key = \"junk.pem\"\n", "listener mx"},
		{"users file", head + "[auth]\nusers_file = \"users\"\n" +
			"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n", "users_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			if code := run([]string{"check-config", "-c", path}, nil, &o, &e); code != 1 {
				t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, o.String(), e.String())
			}
			if got := e.String(); !strings.Contains(got, tc.want) || strings.Count(strings.TrimSpace(got), "\n") != 0 {
				t.Fatalf("stderr %q: want one line naming %q", got, tc.want)
			}
		})
	}
	// The plugin's own words, without the RPC's wrapping.
	var o, e bytes.Buffer
	run([]string{"check-config", "-c", filepath.Join(dir, "plugin-config.toml")}, nil, &o, &e)
	if got := e.String(); !strings.Contains(got, `mode "bogus": want verify, sign or both`) || strings.Contains(got, "rpc error") {
		t.Fatalf("stderr %q", got)
	}
}

// A submission listener with nothing that can authenticate (no users
// file, no stage with an auth hook) is valid but refuses everyone's mail:
// check-config passes it with a warning naming the listener.
func TestCheckConfigWarnsAboutSubmissionWithoutAuth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.toml")
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	src := "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\nkind = \"submission\"\n" +
		"tls_cert = \"" + certFile + "\"\ntls_key = \"" + keyFile + "\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "check-config", "-c", path)
	if !strings.Contains(out, "warning: listener sub (submission) requires AUTH") || strings.Contains(out, "listener mx (smtp) requires") {
		t.Fatalf("check-config:\n%s", out)
	}
}
