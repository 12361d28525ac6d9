package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
)

// heldQueue holds each message's enqueue until told to go on, so that its
// session keeps its message data in memory meanwhile.
type heldQueue struct {
	Enqueuer
	entered chan struct{}
	resume  chan struct{}
}

func (q *heldQueue) EnqueueTraced(m *envelope.Message, body, trace []byte) error {
	q.entered <- struct{}{}
	<-q.resume
	return q.Enqueuer.EnqueueTraced(m, body, trace)
}

// While one session holds its message, max_data_memory leaves no room for
// a second: that one is read to its end and answered 452 4.3.1, and the
// session goes on; once the first is queued, the second goes through on
// its retry. Before, nothing bounded the message data of all sessions.
func TestMaxDataMemoryRefusesWithTemporaryError(t *testing.T) {
	var q *heldQueue
	// Room for one message's reads (4 KiB each), not two; the config's
	// check would want twice max_message_size, but the server takes
	// what it is given.
	h := start(t, withLimits(func(l *config.Limits) { l.MaxDataMemory = 6000 }), func(o *Options) {
		q = &heldQueue{Enqueuer: o.Queue, entered: make(chan struct{}, 4), resume: make(chan struct{})}
		o.Queue = q
	})
	body := "Subject: x\r\n\r\n" + strings.Repeat("0123456789\r\n", 250) // 3 KiB of 4 KiB allowed

	a := h.dial()
	a.ehlo()
	a.envelope("b@example.org")
	a.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	a.raw(body + ".\r\n")
	<-q.entered // a's message is in memory until its enqueue returns

	b := h.dial()
	b.ehlo()
	b.envelope("b@example.org")
	b.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	b.raw(body + ".\r\n")
	b.expect("452 4.3.1 Insufficient system resources, try again later")

	close(q.resume)
	a.queued()
	b.envelope("b@example.org")
	b.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	b.raw(body + ".\r\n")
	b.queued()
	if n := len(h.messages()); n != 2 {
		t.Fatalf("%d messages queued, want 2", n)
	}
	if used := h.srv.dataMem.used.Load(); used != 0 {
		t.Fatalf("%d bytes of max_data_memory still held after both messages", used)
	}
}
