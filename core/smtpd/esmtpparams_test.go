package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// MAIL and RCPT parameters are checked in the order written, so with two
// bad ones the client hears about the first, every time (go-smtp ranged
// over a map and answered either at random); a parameter given twice is
// refused naming it (RFC 3461 §4 for the DSN ones), not taken with its
// last value; VRFY without an argument is a syntax error (RFC 5321
// §4.1.1.6). max_errors is lifted so the rounds all get their own reply.
func TestESMTPParamsOrderAndRepeats(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 1000 }))
	d := h.dial()
	d.ehlo()
	for i := 0; i < 50; i++ {
		d.cmd("MAIL FROM:<a@example.org> SIZE=5000 BODY=FOO", "552 5.3.4 Max message size exceeded")
		d.cmd("MAIL FROM:<a@example.org> BODY=FOO SIZE=5000", "501 5.5.4 Unknown BODY value")
	}
	d.cmd("MAIL FROM:<a@example.org> RET=FULL ret=HDRS", "501 5.5.4 Duplicate RET parameter")
	d.cmd("MAIL FROM:<a@example.org> ENVID=a ENVID=a", "501 5.5.4 Duplicate ENVID parameter")
	d.cmd("MAIL FROM:<a@example.org> SIZE=10 SIZE=20", "501 5.5.4 Duplicate SIZE parameter")
	d.cmd("MAIL FROM:<a@example.org> BODY=7BIT BODY=8BITMIME", "501 5.5.4 Duplicate BODY parameter")
	d.cmd("VRFY", "501 5.5.4 Syntax: VRFY address")

	d.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=e1", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := 0; i < 50; i++ {
		d.cmd("RCPT TO:<b@example.org> NOTIFY=SOMETIMES ORCPT=bogus", "501 5.5.4 Malformed NOTIFY parameter value")
		d.cmd("RCPT TO:<b@example.org> ORCPT=bogus NOTIFY=SOMETIMES", "501 5.5.4 Malformed ORCPT parameter value")
	}
	d.cmd("RCPT TO:<b@example.org> NOTIFY=NEVER NOTIFY=SUCCESS", "501 5.5.4 Duplicate NOTIFY parameter")
	d.cmd("RCPT TO:<b@example.org> ORCPT=rfc822;x@example.org ORCPT=rfc822;y@example.org", "501 5.5.4 Duplicate ORCPT parameter")
	d.cmd("RCPT TO:<b@example.org> NOTIFY=FAILURE ORCPT=rfc822;x@example.org", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nbody\r\n.\r\n")
	d.queued()

	// What was queued is what the accepted commands said, once each.
	m, _ := h.only()
	if m.DSNRet != "HDRS" || m.DSNEnvID != "e1" || len(m.Rcpts) != 1 {
		t.Fatalf("envelope: ret %q envid %q, %d recipients", m.DSNRet, m.DSNEnvID, len(m.Rcpts))
	}
	if r := m.Rcpts[0]; strings.Join(r.Notify, ",") != "FAILURE" || !strings.Contains(r.ORcpt, "x@example.org") {
		t.Errorf("recipient: notify %q orcpt %q", r.Notify, r.ORcpt)
	}
}
