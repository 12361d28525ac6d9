package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// replayFiles writes a config for replay — hostname, a data_dir and a
// listener, then stages, in which ACTOR stands for the path of the actor
// test plugin — and a message, and returns their paths.
func replayFiles(t *testing.T, hostname, stages, message string) (cfg, msg string) {
	t.Helper()
	stages = strings.ReplaceAll(stages, "ACTOR", strconv.Quote(testlib.Build(t, "./internal/testplugins/actor")))
	dir := t.TempDir()
	cfg, msg = filepath.Join(dir, "sluice.toml"), filepath.Join(dir, "msg.eml")
	writeFile(t, cfg, "hostname = "+strconv.Quote(hostname)+"\ndata_dir = \"data\"\n[[listener]]\nlisten = \"127.0.0.1:0\"\n"+stages)
	writeFile(t, msg, message)
	return cfg, msg
}

// writeFile writes s to path or fails the test.
func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
