package main

import (
	"os"
	"path/filepath"
	"testing"
)

// check-config marks a stage in dry run.
func TestCheckConfigShowsDryRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.toml")
	src := "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[stage]]\nname = \"new\"\nmilter = \"inet:127.0.0.1:8891\"\ndry_run = true\n" +
		"[[stage]]\nname = \"old\"\nmilter = \"inet:127.0.0.1:8892\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	want := path + ": ok\n" +
		"listener mx 127.0.0.1:0 (smtp)\n" +
		"pipeline:\n" +
		"  1. new  milter inet:127.0.0.1:8891  timeout=5s on_error=tempfail dry_run\n" +
		"  2. old  milter inet:127.0.0.1:8892  timeout=5s on_error=tempfail\n"
	if got := runCLI(t, "check-config", "-c", path); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
