package smtpd

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// queue_minfree: MAIL (with its SIZE) and the end of DATA get 452 4.3.1
// when taking the message would leave less free for the queue; such
// refusals are not the client's errors; a file system that cannot be
// asked lets mail through.
func TestQueueMinFree(t *testing.T) {
	var free atomic.Int64
	free.Store(1 << 30)
	var broken atomic.Bool
	h := start(t, func(o *Options) {
		o.Config.Limits.QueueMinFree = 1 << 20
		o.Config.Limits.MaxErrors = 1
		o.FreeSpace = func() (int64, error) {
			if broken.Load() {
				return 0, errors.New("statfs: input/output error")
			}
			return free.Load(), nil
		}
	})
	d := h.dial()
	d.ehlo()
	send := func() {
		d.cmd("DATA", "354 *")
		d.raw("Subject: x\r\n\r\nbody\r\n.\r\n")
	}
	d.envelope("b@example.org")
	send()
	d.queued()

	free.Store(1<<20 + 100)
	d.cmd("MAIL FROM:<a@example.org> SIZE=500", "452 4.3.1 Insufficient system storage")
	free.Store(1<<20 - 1)
	d.cmd("MAIL FROM:<a@example.org>", "452 4.3.1 Insufficient system storage")

	// The disk fills while the message comes in.
	free.Store(1 << 30)
	d.envelope("b@example.org")
	free.Store(1<<20 + 10)
	send()
	d.expect("452 4.3.1 Insufficient system storage")
	if n := len(h.messages()); n != 1 {
		t.Fatalf("%d queued, want 1", n)
	}

	broken.Store(true)
	d.envelope("b@example.org")
	send()
	d.queued()
	if !strings.Contains(h.logs.String(), "queue free space unknown") {
		t.Errorf("statfs failure not logged:\n%s", h.logs)
	}
}

// A reload (SetLimits) applies queue_minfree at the next MAIL, in a
// session already open too, both ways, as Postfix's reload does.
func TestSetLimitsQueueMinFree(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Config.Limits.QueueMinFree = 2 << 20
		o.FreeSpace = func() (int64, error) { return 1 << 20, nil }
	})
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "452 4.3.1 Insufficient system storage")

	next := *h.cfg
	next.Limits.QueueMinFree = 1 << 10
	h.srv.SetLimits(&next)
	d.cmd("MAIL FROM:<a@example.org>", "250 *")
	d.cmd("RSET", "250 *")

	next.Limits.QueueMinFree = 2 << 20
	h.srv.SetLimits(&next)
	d.cmd("MAIL FROM:<a@example.org>", "452 4.3.1 Insufficient system storage")
}
