package plugin

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// Close stops a running plugin the graceful way: go-plugin asks it to
// exit and sdk.Serve returns, so that a plugin can flush what it holds (a
// profile, a cache, a log). Killing a process that is still starting
// (TestPluginCloseDuringHungRestart) must not kill running ones outright.
func TestPluginCloseLetsServeReturn(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "exited")
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env:    []string{servePluginEnv + "=graceful", "SLUICE_PLUGIN_TEST_EXITED=" + mark},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(mark); err != nil || string(b) != "served" {
		t.Fatalf("the plugin did not return from sdk.Serve at Close (%v): it was killed", err)
	}
}
