package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestCheckConfigShowsHooks: check-config lists the hooks each plugin
// stage declared, and warns (exit 0) about a plugin stage that declared
// none — here one whose hook method has a pointer receiver while main
// serves the value — instead of printing ok alone for a stage that is
// never called.
func TestCheckConfigShowsHooks(t *testing.T) {
	nohooks := testlib.Build(t, "./internal/testplugins/nohooks")
	t.Setenv("SLUICE_TEST_MAIN", "1") // first-party plugins run this test binary as sluice
	cfg := filepath.Join(t.TempDir(), "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.example.org"
[[listener]]
listen = "127.0.0.1:2525"
[[stage]]
name = "tag"
plugin = %q
[[stage]]
name = "stamp"
plugin = "headers"
[[stage]]
name = "opendkim"
milter = "tcp:127.0.0.1:8891"
`, nohooks)), 0o600)
	out := runCLI(t, "check-config", "-c", cfg)
	for _, want := range []string{
		cfg + ": ok\n",
		"warning: stage tag: plugin " + nohooks + " declares no hooks, so it is never called",
		"sdk.Serve(&T{}), not sdk.Serve(T{})",
		"1. tag  plugin " + nohooks + "  timeout=5s on_error=tempfail  hooks=(none)\n",
		"2. stamp  plugin headers  timeout=5s on_error=tempfail  hooks=data\n",
		"3. opendkim  milter tcp:127.0.0.1:8891  timeout=5s on_error=tempfail\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Count(out, "warning:") != 1 {
		t.Errorf("want one warning, for the stage without hooks:\n%s", out)
	}
}

// TestCheckConfigMissingPluginNamesStageAndPath: a plugin path that is
// not there is reported with its stage and the file it resolved to,
// absolute, even for a config given by a relative path (it was "plugin
// stat nothere: no such file or directory").
func TestCheckConfigMissingPluginNamesStageAndPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("sluice.toml", []byte(`hostname = "mx.example.org"
[[listener]]
listen = "127.0.0.1:2525"
[[stage]]
name = "tagger"
plugin = "./nothere"
`), 0o600)
	wantUserError(t, []string{"check-config", "-c", "sluice.toml"},
		`sluice.toml:6: stage "tagger": plugin "./nothere" (`+filepath.Join(dir, "nothere")+"): no such file or directory")
}

// TestCheckConfigShowsResolvedPluginPath: a plugin path relative to the
// config file prints as the file the daemon runs, as a milter's socket
// path does ("print the resolved pipeline").
func TestCheckConfigShowsResolvedPluginPath(t *testing.T) {
	nohooks := testlib.Build(t, "./internal/testplugins/nohooks")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(nohooks)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugins", "tag"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte("hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n"+
		"[[stage]]\nname = \"tag\"\nplugin = \"./plugins/tag\"\n"), 0o600)
	out := runCLI(t, "check-config", "-c", cfg)
	if want := "1. tag  plugin " + filepath.Join(dir, "plugins", "tag") + "  "; !strings.Contains(out, want) {
		t.Fatalf("missing %q in:\n%s", want, out)
	}
}

// TestPluginPathsInStageConfigAreRelativeToConfigFile: a plugin runs in
// the config file's directory, so a relative path in its [stage.config]
// (here the route plugin's recipients_file) is relative to the config
// file, as every path in it is, wherever the daemon was started from.
func TestPluginPathsInStageConfigAreRelativeToConfigFile(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // first-party plugins run this test binary as sluice
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rcpts.txt"), []byte("alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte("hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n"+
		"[[stage]]\nname = \"route\"\nplugin = \"route\"\n[stage.config]\n"+
		"rules = [{match = \"example.org\", transport = \"mx\", recipients_file = \"rcpts.txt\"}]\n"), 0o600)
	t.Chdir(t.TempDir()) // somewhere else
	out := runCLI(t, "check-config", "-c", cfg)
	if !strings.Contains(out, ": ok\n") {
		t.Fatalf("check-config from another directory:\n%s", out)
	}
}
