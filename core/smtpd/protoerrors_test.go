package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// Errors go-smtp answers itself count towards max_errors: the first three
// bad commands are answered, the fourth ends the session with 421 4.7.0.
func TestMaxErrorsProtocol(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 3 }))
	d := h.dial()
	d.ehlo()
	d.cmd("RCPT TO:<b@example.org>", "503 5.5.1 Missing MAIL FROM command.")
	d.cmd("MAIL FROM:<a@example.org> FOO=BAR", "555 5.5.4 Unknown MAIL FROM argument")
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	d.cmd("XYZW", "500 5.5.2 Syntax errors, XYZW command unrecognized")
	d.cmd("RSET foo", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
	if !strings.Contains(h.logs.String(), "max_errors, at 501 5.5.4 RSET command should not have any arguments") {
		t.Errorf("the limit is not logged:\n%s", h.logs.String())
	}
}

// Protocol errors and refusals share one count.
func TestMaxErrorsProtocolAndRefusals(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 2 }))
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("DATA x", "501 5.5.4 DATA command should not have any arguments")
	d.cmd("RCPT TO:<y@elsewhere.example>", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
}

// max_errors = -1 counts nothing: go-smtp's own limit does not apply to
// Sluice's sessions either.
func TestMaxErrorsProtocolUnlimited(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = -1 }))
	d := h.dial()
	d.ehlo()
	for range 30 {
		d.cmd("XYZW", "500 5.5.2 Syntax errors, XYZW command unrecognized")
	}
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
}

// Before HELO/EHLO there is no session, and the same count applies: with
// max_errors = 5, five bad commands are answered (go-smtp alone would drop
// the client after three), the sixth gets 421 4.7.0. The count carries on
// after EHLO: it belongs to the connection.
func TestMaxErrorsBeforeHelo(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 5 }))
	d := h.dial()
	for range 4 {
		d.cmd("XYZW", "500 5.5.2 Syntax errors, XYZW command unrecognized")
	}
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")
	d.ehlo()
	d.cmd("XYZW", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
}

// RFC 5321 §4.1.1: trailing white space is tolerated, and is no error to
// count: with max_errors = 2, the two errors at the end are all the
// session has. STARTTLS takes no parameter (RFC 3207 §4), and a longer
// verb is another command, unknown.
func TestTrailingWhiteSpaceNotAnError(t *testing.T) {
	tlsOpt, _ := withSTARTTLS(t)
	h := start(t, tlsOpt, withLimits(func(l *config.Limits) { l.MaxErrors = 2 }))
	d := h.dial()
	d.ehlo()
	d.cmd("NOOP ", "250 2.0.0 I have successfully done nothing")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RSET ", "250 2.0.0 Session reset")
	d.envelope("b@example.org")
	d.cmd("DATA ", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nhi\r\n.\r\n")
	d.queued()
	d.cmd("STARTTLSXYZ", "500 5.5.2 Syntax errors, STARTTLSXYZ command unrecognized")
	d.cmd("STARTTLS foo", "501 5.5.4 Syntax: STARTTLS")
	d.cmd("QUIT ", "221 2.0.0 Bye")
	d.expectClosed()

	d = h.dial()
	d.cmd("EHLO", "501 5.5.2 Domain/address argument required for EHLO")
}
