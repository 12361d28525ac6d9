package plugin

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// exitInConfigure's process exits with status 3 in Configure: a plugin
// that calls os.Exit or log.Fatal on a config it cannot use.
type exitInConfigure struct{ sdk.Base }

func (exitInConfigure) Configure(context.Context, sdk.Config) error {
	os.Exit(3)
	return nil
}

// A plugin whose process exits during Configure fails its start saying so,
// with its exit status. Before, the error was the gRPC one its closed
// connection gave Init: "sdk: init: rpc error: code = Unavailable desc =
// error reading from server: EOF", which says neither.
func TestPluginExitInConfigureIsNamed(t *testing.T) {
	_, err := startSelf(t, "exit-in-configure", slog.New(slog.DiscardHandler), 20*time.Second)
	if err == nil || !strings.HasSuffix(err.Error(), ": plugin exited during Configure (exit status 3)") {
		t.Fatalf("got %v", err)
	}
}
