package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestCheckConfigPluginBesideConfigInCwd: plugin = "./tag" beside a
// config given by its bare name ("-c sluice.toml", as one does in
// /etc/sluice) is that file. It was "tag", which exec looked up in
// $PATH: `exec: "tag": executable file not found in $PATH`.
func TestCheckConfigPluginBesideConfigInCwd(t *testing.T) {
	nohooks := testlib.Build(t, "./internal/testplugins/nohooks")
	b, err := os.ReadFile(nohooks)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tag"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	os.WriteFile("sluice.toml", []byte("hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n"+
		"[[stage]]\nname = \"tag\"\nplugin = \"./tag\"\n"), 0o600)
	out := runCLI(t, "check-config", "-c", "sluice.toml")
	if want := "1. tag  plugin ./tag  "; !strings.Contains(out, want) {
		t.Fatalf("missing %q in:\n%s", want, out)
	}
}
