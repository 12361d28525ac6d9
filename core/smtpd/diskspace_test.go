package smtpd

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
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

// SIZE= as big as an int64 holds (or bigger: go-smtp takes that as the
// largest int64) is refused whatever max_message_size: over it with 552
// 5.3.4 (RFC 1870 §6.1), and under a max_message_size that large with 452
// 4.3.1, as queue_minfree plus the message would wrap an int64 sum past
// 2^63 into a negative need any free space meets.
func TestQueueMinFreeHugeSize(t *testing.T) {
	const huge = "MAIL FROM:<a@example.org> SIZE=9223372036854775807"
	free := func() (int64, error) { return 1 << 30, nil }
	h := start(t, func(o *Options) {
		o.Config.Limits.QueueMinFree = 1 << 20
		o.FreeSpace = free
	})
	d := h.dial()
	d.ehlo()
	d.cmd(huge, "552 5.3.4 *")

	// The config takes a max_message_size that large.
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "sluice.toml"),
		[]byte(strings.Replace(baseConfig, "max_message_size = 4096", "max_message_size = 9223372036854775807", 1)))
	if err != nil {
		t.Fatal(err)
	}
	h = start(t, func(o *Options) {
		o.Config = cfg
		o.Config.Limits.QueueMinFree = 1 << 20
		o.FreeSpace = free
	})
	d = h.dial()
	d.ehlo()
	d.cmd(huge, "452 4.3.1 Insufficient system storage")
	if want := "9223372036855824383 needed (queue_minfree 1048576 + message 9223372036854775807)"; !strings.Contains(h.logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, h.logs)
	}
	d.cmd("MAIL FROM:<a@example.org> SIZE=99999999999999999999", "452 4.3.1 *")
	d.cmd("MAIL FROM:<a@example.org> SIZE=1000", "250 *")
}
