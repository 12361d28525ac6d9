package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// A loop a client can repeat on one connection without queuing a message
// ends with 421 once max_junk_commands and then max_errors are spent, as
// Postfix's smtpd_junk_command_limit and smtpd_hard_error_limit end it.
// Each of these went on for ever: a refused HELO (asking the helo hook
// each time), a cancelled AUTH, DATA or BDAT with no valid recipient and
// empty BDAT chunks were never counted, the same RCPT was answered 250
// without end, and RCPTs over max_recipients were never errors (now, as
// repeats of one recipient, after Postfix's overshoot allowance,
// rcptOvershoot).
func TestNoEndlessLoops(t *testing.T) {
	const limit = "421 4.7.0 Too many errors, closing connection"
	tlsOpt, clientTLS := withSTARTTLS(t)
	loops := []struct {
		name   string
		tls    bool
		setup  []string // commands and their replies, once
		cycle  []string // command, reply, command, reply...
		min    int      // cycles allowed before the limits apply
		noHelo bool     // the cycle greets
	}{
		{name: "HELO refused", noHelo: true, cycle: []string{"EHLO bad.test", "550 5.7.1 Bad HELO"}},
		{name: "AUTH cancelled", tls: true, cycle: []string{"AUTH PLAIN", "334 ", "*", "501 5.7.0 Negotiation cancelled"}},
		{name: "DATA without recipients", setup: []string{"MAIL FROM:<a@example.org>", "250 *"},
			cycle: []string{"DATA", "554 5.5.1 No valid recipients"}},
		{name: "BDAT without recipients", setup: []string{"MAIL FROM:<a@example.org>", "250 *"},
			cycle: []string{"BDAT 0", "554 5.5.1 No valid recipients"}},
		{name: "empty BDAT chunks", setup: []string{"MAIL FROM:<a@example.org>", "250 *", "RCPT TO:<b@example.org>", "250 *"},
			cycle: []string{"BDAT 0", "250 2.0.0 Continue"}},
		{name: "the same recipient", setup: []string{"MAIL FROM:<a@example.org>", "250 *", "RCPT TO:<b@example.org>", "250 *"},
			cycle: []string{"RCPT TO:<b@example.org>", "*"}, min: rcptOvershoot},
		{name: "recipients over the limit", setup: []string{"MAIL FROM:<a@example.org>", "250 *",
			"RCPT TO:<b1@example.org>", "250 *", "RCPT TO:<b2@example.org>", "250 *", "RCPT TO:<b3@example.org>", "250 *"},
			cycle: []string{"RCPT TO:<b4@example.org>", "452 4.5.3 Too many recipients"}, min: rcptOvershoot},
	}
	for _, lp := range loops {
		t.Run(lp.name, func(t *testing.T) {
			h := start(t, tlsOpt, withUsers(t, users), withLimits(func(l *config.Limits) { l.MaxJunkCommands, l.MaxErrors = 3, 2 }),
				func(o *Options) { o.Policy = &testPolicy{badHelo: "bad.test"} })
			var d *dialog
			if lp.tls {
				d = h.dialTLS("mx", clientTLS)
			} else {
				d = h.dial()
			}
			if !lp.noHelo {
				d.ehlo()
			}
			for i := 0; i < len(lp.setup); i += 2 {
				d.cmd(lp.setup[i], lp.setup[i+1])
			}
			for n := 0; n < 2000; n++ {
				for i := 0; i < len(lp.cycle); i += 2 {
					d.send(lp.cycle[i])
					if got := d.line(); got == limit {
						d.expectClosed()
						if n < lp.min {
							t.Fatalf("closed at cycle %d, before %d", n, lp.min)
						}
						return
					} else if w, _ := strings.CutSuffix(lp.cycle[i+1], "*"); !strings.HasPrefix(got, w) {
						t.Fatalf("cycle %d: got %q, want %q", n, got, lp.cycle[i+1])
					}
				}
			}
			t.Fatalf("2000 cycles and the session goes on")
		})
	}
}

// A queued message forgives the connection's errors and junk commands, as
// Postfix does after each message: a relay sending message after message
// on one connection, each with one recipient refused, is not cut off
// after max_errors of them.
func TestErrorsForgivenAfterQueuedMessage(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxJunkCommands, l.MaxErrors = 3, 2 }),
		func(o *Options) { o.Policy = &testPolicy{badRcpt: "spam@example.org"} })
	d := h.dial()
	d.ehlo()
	for n := 0; n < 10; n++ {
		d.cmd("MAIL FROM:<a@example.org>", "250 *")
		d.cmd("RCPT TO:<spam@example.org>", "550 *")
		d.cmd("NOOP", "250 *")
		d.cmd("RCPT TO:<b@example.org>", "250 *")
		d.cmd("DATA", "354 *")
		d.send("Subject: n", "", "body", ".")
		d.queued()
	}
	d.cmd("QUIT", "221 *")
}

// A pipelined BDAT message whose recipients all failed costs one error,
// not one per chunk (Exchange sends many chunks before it reads a reply).
func TestBDATWithoutRecipientsCountsOnce(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxJunkCommands, l.MaxErrors = 100, 2 }),
		func(o *Options) { o.Policy = &testPolicy{badRcpt: "spam@example.org"} })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 *")
	d.cmd("RCPT TO:<spam@example.org>", "550 *")
	for i := 0; i < 30; i++ {
		d.raw("BDAT 3\r\nabc")
		d.expect("554 5.5.1 No valid recipients")
	}
	d.raw("BDAT 3 LAST\r\nabc")
	d.expect("554 5.5.1 No valid recipients")
	d.cmd("RSET", "250 *")
	d.envelope("b@example.org")
	d.cmd("DATA", "354 *")
	d.send("Subject: n", "", "body", ".")
	d.queued()
}
