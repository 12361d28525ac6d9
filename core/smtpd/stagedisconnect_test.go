package smtpd

import (
	"context"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// hookPolicy refuses at the one hook it is given with r, and allows the
// rest: a milter's SMFIR_REPLYCODE, or an access table's "421 text" or
// "521 text", at that hook.
type hookPolicy struct {
	AllowAll
	hook string
	r    *reply.Reply
}

func (p *hookPolicy) at(hook string) *reply.Reply {
	if hook == p.hook {
		return p.r
	}
	return nil
}

func (p *hookPolicy) Connect(context.Context, *SessionInfo) *reply.Reply { return p.at("connect") }
func (p *hookPolicy) Helo(context.Context, *SessionInfo) *reply.Reply    { return p.at("helo") }
func (p *hookPolicy) Mail(context.Context, *SessionInfo, string) *reply.Reply {
	return p.at("mail")
}
func (p *hookPolicy) Rcpt(context.Context, *SessionInfo, *envelope.Recipient) *reply.Reply {
	return p.at("rcpt")
}
func (p *hookPolicy) Data(context.Context, *SessionInfo, *Transaction) *reply.Reply {
	return p.at("data")
}

// A stage's 421 or 521 at any hook is the session's last reply: the
// connection closes once it is written, as after Postfix's access(5)
// "421 text" and "521 text" (smtpd_chat_reply hangs up after either).
// 421 closes by RFC 5321 §3.8; 521 is "does not accept mail" (RFC 7504
// §3), after which the server closes too, and which may stand in place
// of the greeting. Nothing is queued.
func TestStageClosingRepliesEndTheSession(t *testing.T) {
	for _, r := range []reply.Reply{
		{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "go away"},
		{Code: 521, Enhanced: [3]int{5, 7, 1}, Text: "nope"},
	} {
		want := r.String()
		for _, hook := range []string{"connect", "helo", "mail", "rcpt", "data", "bdat"} {
			t.Run(want+"/"+hook, func(t *testing.T) {
				at := hook
				if hook == "bdat" {
					at = "data"
				}
				h := start(t, func(o *Options) { o.Policy = &hookPolicy{hook: at, r: &r} })
				var d *dialog
				switch hook {
				case "connect":
					d = dialConn(t, h.addr("mx"))
					d.expect(want)
				case "helo":
					d = h.dial()
					d.cmd("EHLO client.test", want)
				case "mail":
					d = h.dial()
					d.ehlo()
					d.cmd("MAIL FROM:<a@example.org>", want)
				case "rcpt":
					d = h.dial()
					d.ehlo()
					d.envelope()
					d.cmd("RCPT TO:<b@example.org>", want)
				case "data":
					d = h.dial()
					d.ehlo()
					d.envelope("b@example.org")
					d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
					d.raw("Subject: x\r\n\r\nhi\r\n.\r\n")
					d.expect(want)
				case "bdat":
					d = h.dial()
					d.ehlo()
					d.envelope("b@example.org")
					d.send("BDAT 18 LAST")
					d.raw("Subject: x\r\n\r\nhi\r\n")
					d.expect(want)
				}
				d.expectClosed()
				if n := len(h.messages()); n != 0 {
					t.Fatalf("queue holds %d messages", n)
				}
			})
		}
	}
}

// Under soft_bounce a stage's 521 reaches the client as 421, which
// closes as well.
func TestStage521SoftBounced(t *testing.T) {
	r := reply.Reply{Code: 521, Enhanced: [3]int{5, 7, 1}, Text: "nope"}
	for _, hook := range []string{"connect", "mail"} {
		t.Run(hook, func(t *testing.T) {
			h := start(t, func(o *Options) {
				o.Config.SoftBounce = true
				o.Policy = &hookPolicy{hook: hook, r: &r}
			})
			var d *dialog
			if hook == "connect" {
				d = dialConn(t, h.addr("mx"))
				d.expect("421 4.7.1 nope")
			} else {
				d = h.dial()
				d.ehlo()
				d.cmd("MAIL FROM:<a@example.org>", "421 4.7.1 nope")
			}
			d.expectClosed()
		})
	}
}
