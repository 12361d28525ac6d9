package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// closedQueueLog is a slog handler that reports, on hit, each record
// whose "err" is queue.ErrClosed.
type closedQueueLog struct{ hit chan string }

func (h closedQueueLog) Enabled(context.Context, slog.Level) bool { return true }
func (h closedQueueLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h closedQueueLog) WithGroup(string) slog.Handler            { return h }
func (h closedQueueLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" && errors.Is(err, queue.ErrClosed) {
			select {
			case h.hit <- r.Message:
			default:
			}
		}
		return true
	})
	return nil
}

// A delivery still running when the drain timeout ends is abandoned and
// the queue closed under it. When its peer answers after that, recording
// the outcome fails with queue.ErrClosed and is logged; Pebble used to
// panic ("pebble: closed") in the delivery's goroutine, which ends the
// process. The message stays queued for the next start: nothing is lost.
func TestDeliveryAnsweredAfterDrainTimeoutDoesNotPanic(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	reached, release := make(chan struct{}), make(chan struct{})
	sink.OnData(func(int) error {
		close(reached)
		<-release
		return nil
	})
	dir := filepath.Join(t.TempDir(), "data")
	c := mustParse(t, fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[delivery]
relay = %q
command_timeout = "1m"
`, dir, sink.Addr))
	hit := make(chan string, 1)
	d, err := Start(Options{Config: c, Logger: slog.New(closedQueueLog{hit}), DrainTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, d, "late", "bob@remote.test"); err != nil {
		close(release)
		t.Fatal(err)
	}
	<-reached
	// The delivery waits for its peer's answer to DATA past the drain.
	if err := d.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	close(release)
	select {
	case msg := <-hit:
		t.Logf("logged after the queue closed: %s", msg)
	case <-time.After(30 * time.Second):
		t.Fatal("the late delivery never reported the closed queue")
	}
	q, err := queue.Open(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ms, err := q.List(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || len(ms[0].Pending()) != 1 || ms[0].State != envelope.StateActive {
		t.Fatalf("queued after the restart: %+v, want the message still pending", ms)
	}
}
