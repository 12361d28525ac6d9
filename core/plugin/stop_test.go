package plugin

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// markerEnv names the file by which a crash-then-hang process knows it is
// a restart.
const markerEnv = "SLUICE_PLUGIN_TEST_MARKER"

// crashThenHang serves crashOnMail the first time; started again, it says
// so on its stderr and never answers the handshake.
func crashThenHang() {
	marker := os.Getenv(markerEnv)
	if _, err := os.Stat(marker); err == nil {
		fmt.Fprintln(os.Stderr, "hanging in the handshake")
		select {}
	}
	_ = os.WriteFile(marker, nil, 0o600)
	sdk.Serve(crashOnMail{})
	os.Exit(0)
}

// Stopping a stage whose plugin is being restarted and hangs there (its
// handshake or its Configure, each allowed StartTimeout) stops it at once.
// Before, Close waited for the restart to give up — up to twice
// StartTimeout, 40 seconds by default — holding up the daemon's shutdown
// and the end of a reload.
func TestPluginCloseDuringHungRestart(t *testing.T) {
	ch := make(chan string, 100)
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env:    []string{servePluginEnv + "=crash-then-hang", markerEnv + "=" + filepath.Join(t.TempDir(), "started")},
		Logger: slog.New(&records{ch: ch}), MinBackoff: time.Millisecond, StartTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	if _, err := (conn{p}).Hook(t.Context(), sdk.HookMail, txn, nil); err == nil {
		t.Fatal("the crashing plugin answered")
	}
	timeout := time.After(30 * time.Second)
	for hanging := false; !hanging; {
		select {
		case s := <-ch:
			hanging = strings.Contains(s, "hanging in the handshake")
		case <-timeout:
			t.Fatal("the plugin was not restarted")
		}
	}
	closed := make(chan struct{})
	go func() {
		_ = p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting for the hung restart after 10s (its StartTimeout is a minute)")
	}
	if state, _ := p.Health(); state != "stopped" {
		t.Errorf("state %q after Close, want stopped", state)
	}
}
