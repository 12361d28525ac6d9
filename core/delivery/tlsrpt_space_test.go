package delivery

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestTLSRPTDiskShortRetried: a mailed report that would leave less than
// queue_minfree free is not queued, and the day is kept: once the retry
// is due and the space is back, Run queues it, and the day is done.
func TestTLSRPTDiskShortRetried(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, `_smtp._tls.dest.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test"`)
	r := tlsReportsFor(h, "")
	q := &enqueuedQueue{watchedQueue: h.q}
	var free atomic.Int64
	free.Store(1000)
	r.opt.Queue, r.opt.MinFree = q, minFree(900)
	r.opt.FreeSpace = func() (int64, error) { return free.Load(), nil }
	logs := make(logEvents, 100)
	r.opt.Logger = slog.New(logs)
	r.add(newRPTPolicy(rptTypeNone, "dest.test", nil, nil), nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h.clock.Advance(12*time.Hour + time.Minute) // 2026-03-02 00:01 UTC
	r.Kick()
	waitLog(t, logs, "tlsrpt: report not queued, the queue's disk is short; will retry")
	if len(q.got) != 0 { // the log line came after mail() returned, in Run's goroutine
		t.Fatalf("queued %d messages on a short disk", len(q.got))
	}
	if at, ok := r.nextRetry(); !ok || !at.Equal(h.clock.Now().Add(tlsrptSpaceRetry)) {
		t.Fatalf("next retry %v %v, want in %v", at, ok, tlsrptSpaceRetry)
	}

	free.Store(1 << 30)
	h.clock.Advance(tlsrptSpaceRetry)
	r.Kick()
	waitLog(t, logs, "tlsrpt: report queued")
	cancel()
	<-done
	if len(q.got) != 1 || q.got[0].Msg.Rcpts[0].Addr != "tlsrpt@reports.test" {
		t.Fatalf("queued %d messages, want the report once", len(q.got))
	}
	if len(r.days) != 0 {
		t.Errorf("days kept after the report went out: %v", r.days)
	}
}
