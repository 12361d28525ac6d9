package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

const noopOK = "250 2.0.0 I have successfully done nothing"

// Commands that move no transaction forward count towards max_errors once
// a connection has sent max_junk_commands of them, as Postfix's
// smtpd_junk_command_limit: before, a client could send NOOP (or RSET,
// VRFY, HELP, a repeated EHLO) without end and hold its connection for
// good, the command timeout bounding only the wait for each one.
func TestMaxJunkCommands(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxJunkCommands, l.MaxErrors = 3, 2 }))
	d := h.dial()
	d.cmd("NOOP", noopOK) // before HELO too
	d.ehlo()
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("VRFY postmaster", "252 2.5.0 Cannot VRFY user, but will accept message")
	// Past the limit each one is an error, answered as usual until
	// max_errors.
	d.cmd("HELP", "502 5.5.1 HELP command not implemented")
	d.ehlo() // a greeting again only resets: junk too
	d.cmd("NOOP", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
	if !strings.Contains(h.logs.String(), "max_junk_commands, then max_errors, at NOOP") {
		t.Errorf("the close is not logged with its reason:\n%s", h.logs.String())
	}
}

// A queued message starts the count afresh: a client sending mail may
// send a NOOP or RSET between its messages however many it sends.
func TestMaxJunkCommandsCountsSinceLastMessage(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxJunkCommands, l.MaxErrors = 2, 1 }))
	d := h.dial()
	d.ehlo()
	for range 3 {
		d.cmd("NOOP", noopOK)
		d.cmd("RSET", "250 2.0.0 Session reset")
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw("Subject: x\r\n\r\n.\r\n")
		d.queued()
	}
	d.cmd("NOOP", noopOK)
	d.cmd("NOOP", noopOK)
	d.cmd("NOOP", noopOK) // the first error
	d.cmd("NOOP", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
}

// max_junk_commands = -1: no limit.
func TestMaxJunkCommandsOff(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxJunkCommands, l.MaxErrors = -1, 1 }))
	d := h.dial()
	d.ehlo()
	for range 200 {
		d.cmd("NOOP", noopOK) // one at a time: NOOP ends a pipelined group (RFC 2920 §3.1)
	}
	d.cmd("QUIT", "221 2.0.0 Bye")
}
