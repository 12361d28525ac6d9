package main

import (
	"os"
	"path/filepath"
	"testing"
)

// check-config shows the listeners a stage serves, when it names them.
func TestCheckConfigShowsStageListeners(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.toml")
	src := "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[listener]]\nname = \"local\"\nlisten = \"[::1]:0\"\n" +
		"[[stage]]\nname = \"spam\"\nmilter = \"inet:127.0.0.1:8891\"\nlisteners = [\"mx\"]\n" +
		"[[stage]]\nname = \"sign\"\nmilter = \"inet:127.0.0.1:8892\"\nlisteners = [\"sub\", \"local\"]\n" +
		"[[stage]]\nname = \"all\"\nmilter = \"inet:127.0.0.1:8893\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	want := path + ": ok\n" +
		"listener mx 127.0.0.1:0 (smtp)\n" +
		"listener sub 127.0.0.1:0 (smtp)\n" +
		"listener local [::1]:0 (smtp)\n" +
		"pipeline:\n" +
		"  1. spam  milter inet:127.0.0.1:8891  timeout=5s on_error=tempfail listeners=mx\n" +
		"  2. sign  milter inet:127.0.0.1:8892  timeout=5s on_error=tempfail listeners=sub,local\n" +
		"  3. all  milter inet:127.0.0.1:8893  timeout=5s on_error=tempfail\n"
	if got := runCLI(t, "check-config", "-c", path); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
