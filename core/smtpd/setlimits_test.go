package smtpd

import (
	"strings"
	"testing"
)

// sizeOf greets with EHLO and returns the SIZE it advertises.
func sizeOf(d *dialog) string {
	d.t.Helper()
	d.send("EHLO client.test")
	size := ""
	for {
		l := d.line()
		if v, ok := strings.CutPrefix(l[4:], "SIZE "); ok {
			size = v
		}
		if strings.HasPrefix(l, "250 ") {
			return size
		} else if !strings.HasPrefix(l, "250-") {
			d.t.Fatalf("EHLO reply %q", l)
		}
	}
}

// SetLimits (a reload) applies a lowered max_recipients to a session
// already open, at its next RCPT; a new max_message_size is advertised to
// connections made after it, while the open session keeps the SIZE it
// was told and still sends a message under it.
func TestSetLimitsAppliesToOpenAndNewSessions(t *testing.T) {
	h := start(t)
	old := h.dial()
	if got := sizeOf(old); got != "4096" {
		t.Fatalf("SIZE %q before the change, want 4096", got)
	}
	old.envelope("a@example.org")

	next := *h.cfg
	next.Limits.MaxRecipients = 1
	next.Limits.MaxMessageSize = 2048
	h.srv.SetLimits(&next)

	old.cmd("RCPT TO:<b@example.org>", "452 4.5.3 Too many recipients")
	fresh := h.dial()
	if got := sizeOf(fresh); got != "2048" {
		t.Errorf("SIZE %q for a connection after the change, want 2048", got)
	}
	fresh.envelope("c@example.org")
	fresh.cmd("RCPT TO:<d@example.org>", "452 4.5.3 Too many recipients")

	// The open session's go-smtp server still serves it, with its limits.
	old.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	old.raw("Subject: under the old size\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 40) + ".\r\n")
	old.queued()
	if got := sizeOf(old); got != "4096" {
		t.Errorf("SIZE %q in the session open before the change, want still 4096", got)
	}
}
