package sdk

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
)

// logRecords sends each record's message and attributes to ch.
type logRecords struct{ ch chan string }

func (r logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (r logRecords) Handle(_ context.Context, rec slog.Record) error {
	s := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		s += " " + a.String()
		return true
	})
	r.ch <- s
	return nil
}
func (r logRecords) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r logRecords) WithGroup(string) slog.Handler      { return r }

// The Host service that cannot be offered (the plugin's process died and
// its broker is closed) is said in the Client's logger, not printed with
// the log package on the daemon's stderr, as go-plugin's AcceptAndServe
// did ("[ERR] plugin: plugin acceptAndServe error: broker closed").
func TestServeHostLogsAcceptError(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where the closed broker's listener goes
	var std bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&std)
	defer log.SetOutput(prev)
	client, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{PluginKey: &GRPCPlugin{Impl: Base{}}})
	raw, err := client.Dispense(PluginKey)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*Client)
	_ = client.Close() // closes the broker
	ch := make(chan string, 10)
	hs := serveHost(c.broker, c.broker.NextId(), "st", nil, 0, slog.New(logRecords{ch}))
	defer hs.stop()
	select {
	case s := <-ch:
		if !strings.HasPrefix(s, "WARN plugin mail not offered to the plugin") || !strings.Contains(s, "broker closed") {
			t.Fatalf("logged %q; want the broker's error", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing logged")
	}
	if std.Len() != 0 {
		t.Fatalf("the log package printed %q", std.String())
	}
}
