package smtpd

import (
	"context"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// A stage's refusal at connect (a milter's 550 5.7.1 or 451 4.7.1, a dead
// stage's 451 4.3.0) greets with one of the codes RFC 5321 §4.3.2 allows
// there: 554 for a permanent one, after which only QUIT is served (§3.1),
// 421 for a temporary one, and the connection closes (§3.8).
func TestConnectRefusalGreetings(t *testing.T) {
	for _, tc := range []struct {
		stage reply.Reply
		greet string
		temp  bool
	}{
		{reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "Command rejected"}, "554 5.7.1 Command rejected", false},
		{reply.Reply{Code: 550, Enhanced: [3]int{4, 7, 1}, Text: "Mismatched"}, "554 5.7.1 Mismatched", false},
		{reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Text: "Service unavailable - try again later"}, "421 4.7.1 Service unavailable - try again later", true},
		{reply.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Stage unavailable"}, "421 4.3.0 Stage unavailable", true},
		{reply.Reply{Code: 450, Text: "No enhanced code"}, "421 No enhanced code", true},
	} {
		t.Run(tc.greet, func(t *testing.T) {
			r := tc.stage
			h := start(t, func(o *Options) { o.Policy = &testPolicy{connect: &r} })
			d := dialConn(t, h.addr("mx"))
			d.expect(tc.greet)
			if !tc.temp {
				d.cmd("EHLO client.test", "503 5.5.1 Bad sequence of commands")
				d.cmd("QUIT", "221 2.0.0 Bye")
			}
			d.expectClosed()
		})
	}
}

// closingPolicy answers MAIL with a 421, as a milter's SMFIR_REPLYCODE
// "421 4.7.0 go away" or SMFIR_SHUTDOWN reaches the session.
type closingPolicy struct {
	AllowAll
	mail, rcpt *reply.Reply
}

func (p *closingPolicy) Mail(context.Context, *SessionInfo, string) *reply.Reply { return p.mail }

func (p *closingPolicy) Rcpt(context.Context, *SessionInfo, *envelope.Recipient) *reply.Reply {
	return p.rcpt
}

// A 421 from a stage is the last reply of the session: the connection
// closes after it (RFC 5321 §3.8), instead of 503s to what follows.
func TestStage421ClosesTheSession(t *testing.T) {
	goAway := reply.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "go away"}
	t.Run("mail", func(t *testing.T) {
		h := start(t, func(o *Options) { o.Policy = &closingPolicy{mail: &goAway} })
		d := h.dial()
		d.ehlo()
		d.cmd("MAIL FROM:<a@example.org>", "421 4.7.0 go away")
		d.expectClosed()
	})
	t.Run("rcpt", func(t *testing.T) {
		h := start(t, func(o *Options) { o.Policy = &closingPolicy{rcpt: &goAway} })
		d := h.dial()
		d.ehlo()
		d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
		d.cmd("RCPT TO:<b@example.org>", "421 4.7.0 go away")
		d.expectClosed()
	})
}
