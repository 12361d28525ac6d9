package plugin

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// servePluginEnv makes this test binary a plugin process (the value names
// which), so the tests start real plugin processes without building one.
const servePluginEnv = "SLUICE_PLUGIN_TEST_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(servePluginEnv) {
	case "chatty":
		sdk.Serve(chatty{})
		os.Exit(0)
	case "slow-configure":
		sdk.Serve(slowConfigure{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// chatty writes a line each way a plugin author might log, at Configure.
type chatty struct{ sdk.Base }

func (chatty) Configure(context.Context, sdk.Config) error {
	fmt.Println("hello on stdout")
	fmt.Fprintln(os.Stderr, "hello on stderr")
	log.Print("hello from log")
	return nil
}

func (chatty) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// slowConfigure does not finish Configure before the core gives up.
type slowConfigure struct{ sdk.Base }

func (slowConfigure) Configure(ctx context.Context, _ sdk.Config) error {
	<-ctx.Done()
	return ctx.Err()
}

// startSelf starts this test binary as the plugin named by which.
func startSelf(t *testing.T, which string, log *slog.Logger, timeout time.Duration) (*Process, error) {
	t.Helper()
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=" + which}, Logger: log, StartTimeout: timeout})
	if err == nil {
		t.Cleanup(func() { _ = p.Close() })
	}
	return p, err
}

// records is a slog handler that hands every record's level, message,
// stage and line to a channel.
type records struct {
	attrs []slog.Attr
	ch    chan string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	s := rec.Level.String() + " " + rec.Message
	for _, a := range r.attrs {
		s += " " + a.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" {
			s += " " + a.String()
		}
		return true
	})
	r.ch <- s
	return nil
}
func (r *records) WithAttrs(as []slog.Attr) slog.Handler {
	return &records{attrs: append(append([]slog.Attr(nil), r.attrs...), as...), ch: r.ch}
}
func (r *records) WithGroup(string) slog.Handler { return r }

// TestPluginStdoutAndStderrAreLogged: a plugin's fmt.Println and
// fmt.Fprintln(os.Stderr, …), which go-plugin redirects once sdk.Serve
// runs, reach the daemon's log (at info and warn, with the stage name), as
// its log.Printf lines always did. Before, they were discarded.
func TestPluginStdoutAndStderrAreLogged(t *testing.T) {
	h := &records{ch: make(chan string, 100)}
	if _, err := startSelf(t, "chatty", slog.New(h), 0); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		`INFO plugin stdout stage=st line=hello on stdout`: false,
		`WARN plugin stderr stage=st line=hello on stderr`: false,
	}
	var seen []string
	timeout := time.After(10 * time.Second)
	for n := 0; n < len(want); {
		select {
		case s := <-h.ch:
			seen = append(seen, s)
			if done, ok := want[s]; ok && !done {
				want[s] = true
				n++
			}
			if strings.Contains(s, "hello from log") && !strings.HasPrefix(s, "INFO plugin stderr stage=st") {
				t.Errorf("log.Print line logged as %q", s)
			}
		case <-timeout:
			t.Fatalf("want %v; logged:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}

// TestPluginStartTimeoutIsNamed: a plugin whose Configure outlasts the
// start limit fails with an error that names the limit, not gRPC's bare
// "context deadline exceeded".
func TestPluginStartTimeoutIsNamed(t *testing.T) {
	_, err := startSelf(t, "slow-configure", slog.New(slog.DiscardHandler), 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "plugin did not finish starting (Configure) within 500ms") {
		t.Fatalf("got %v", err)
	}
}
