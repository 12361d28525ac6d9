package daemon

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/sdk"
)

// TestPluginMailWaitsForStart: a plugin that sends while the daemon still
// starts its stages (from a goroutine its Configure started, as the dmarc
// stage's report sender) has its Send wait until the daemon queues plugin
// mail, rather than fail with "the daemon is starting" and spend one of
// its tries; a Send whose context ends first, or made while the daemon
// stops, still fails, saying why. The Send is made before plugin mail is
// ready whenever the goroutine runs before the test stores it, which
// the handshake below makes the usual order; without the wait it then
// fails.
func TestPluginMailWaitsForStart(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	d := &Daemon{log: slog.New(slog.DiscardHandler), mailReady: make(chan struct{})}
	var stop context.CancelFunc
	d.stopping, stop = context.WithCancel(context.Background())
	defer stop()
	msg := sdk.OutgoingMessage{To: []string{"postmaster@example.org"},
		Message: []byte("From: <reports@example.org>\r\nSubject: r\r\n\r\nreport\r\n")}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := d.sendMail(ctx, "st", 1<<20, msg); err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("a Send whose context ended before the start: %v", err)
	}

	type result struct {
		id  string
		err error
	}
	res := make(chan result, 1)
	calling := make(chan struct{})
	go func() {
		close(calling)
		id, err := d.sendMail(context.Background(), "st", 1<<20, msg)
		res <- result{id, err}
	}()
	<-calling
	runtime.Gosched()
	d.mail.Store(delivery.NewPluginMail(delivery.PluginMailOptions{Queue: q, Logger: d.log}))
	close(d.mailReady)
	select {
	case r := <-res:
		if r.err != nil || r.id == "" {
			t.Fatalf("a Send made while the daemon started: id %q, %v", r.id, r.err)
		}
		if _, err := q.Get(r.id); err != nil {
			t.Fatalf("message %s not in the queue: %v", r.id, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Send did not return once plugin mail was ready")
	}

	d2 := &Daemon{log: d.log, mailReady: make(chan struct{})}
	var stop2 context.CancelFunc
	d2.stopping, stop2 = context.WithCancel(context.Background())
	stop2()
	if _, err := d2.sendMail(context.Background(), "st", 1<<20, msg); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("a Send while the daemon stops before it ran: %v", err)
	}
}

// TestPluginMailFailedStartEndsSend: a Send waiting for the daemon to run
// returns once its start fails (closeAll), saying so, rather than wait as
// long as its context (none here): d.stopping ended only with Stop, which
// a daemon whose Start failed never gets.
func TestPluginMailFailedStartEndsSend(t *testing.T) {
	d := &Daemon{log: slog.New(slog.DiscardHandler), mailReady: make(chan struct{})}
	d.stopping, d.endStarting = context.WithCancel(context.Background())
	defer d.endStarting()
	msg := sdk.OutgoingMessage{To: []string{"postmaster@example.org"},
		Message: []byte("From: <reports@example.org>\r\nSubject: r\r\n\r\nreport\r\n")}
	res := make(chan error, 1)
	go func() {
		_, err := d.sendMail(context.Background(), "st", 1<<20, msg)
		res <- err
	}()
	d.closeAll()
	select {
	case err := <-res:
		if err == nil || !strings.Contains(err.Error(), "stopping") {
			t.Fatalf("a Send while the start failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Send still waits after the start failed")
	}
}
