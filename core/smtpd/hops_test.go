package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// A message with more Received: fields than max_hops is in a mail loop:
// 554 5.4.6, and the session goes on. Fields are counted whatever their
// case and folding; at the limit the message is taken. Before, a loop
// through another MTA went on until the header section outgrew
// max_header_size.
func TestMaxHopsRefusesLoopingMessage(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxHops = 5 }))
	msg := func(hops int) string {
		var b strings.Builder
		for i := 0; i < hops; i++ {
			if i%2 == 0 {
				b.WriteString("Received: from a.example by b.example;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n")
			} else {
				b.WriteString("rECEIVED: from c.example by d.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n")
			}
		}
		b.WriteString("X-Received: not a hop\r\nSubject: loop\r\n\r\nReceived: in the body is no hop\r\n.\r\n")
		return b.String()
	}
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw(msg(6))
	d.expect("554 5.4.6 Too many hops: mail loop detected")
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw(msg(5))
	d.queued()
	if n := len(h.messages()); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
}

// Received fields are counted by name, whatever the case, with white
// space before the colon (obs-optional), and not Received-SPF; counting
// stops once past max.
func TestReceivedFields(t *testing.T) {
	hdr := []byte("Received: a\r\n b\r\nReceived-SPF: pass\r\nreceived : c\r\nRECEIVED: d\r\n")
	if n := receivedFields(hdr, 10); n != 3 {
		t.Fatalf("receivedFields = %d, want 3", n)
	}
	if n := receivedFields(hdr, 1); n != 2 {
		t.Fatalf("receivedFields(max 1) = %d, want 2: it stops past the limit", n)
	}
}
