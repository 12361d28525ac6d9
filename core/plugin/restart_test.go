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

// A plugin that crashes on a call is restarted after its backoff, not at
// the supervisor's next periodic look (here an hour away). Before, the
// failed call found the process not yet reaped (its sockets close a
// moment before go-plugin notices the exit), so the restart waited for
// the next look, up to a second, and every message in that second got
// the stage's on_error.
func TestPluginCrashIsNoticedAtOnce(t *testing.T) {
	ch := make(chan string, 100)
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=crash-on-mail"}, Logger: slog.New(&records{ch: ch}),
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, checkEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	timeout := time.After(30 * time.Second)
	next := func(prefix string) {
		t.Helper()
		for {
			select {
			case s := <-ch:
				if strings.HasPrefix(s, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q log line: the plugin was not restarted", prefix)
			}
		}
	}
	next("INFO plugin running")
	for i := 0; i < 3; i++ {
		txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
		if _, err := (conn{p}).Hook(context.Background(), sdk.HookMail, txn, nil); err == nil {
			t.Fatalf("call %d: the crashing plugin answered", i)
		}
		next("WARN plugin died, restarting")
		next("INFO plugin running")
	}
}
