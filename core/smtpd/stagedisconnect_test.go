package smtpd

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
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

// authHookPolicy refuses every AUTH with r, as a plugin's auth hook may.
type authHookPolicy struct {
	AllowAll
	r *reply.Reply
}

func (p *authHookPolicy) Auth(context.Context, *SessionInfo, string, string, []byte) AuthVerdict {
	return AuthVerdict{Decision: AuthRefuse, Reply: p.r}
}

// clientPolicy refuses the connect hook with r for one client only.
type clientPolicy struct {
	AllowAll
	client string
	r      *reply.Reply
}

func (p *clientPolicy) Connect(_ context.Context, s *SessionInfo) *reply.Reply {
	if s.Client.Addr().String() == p.client {
		return p.r
	}
	return nil
}

// The paths TestStageClosingRepliesEndTheSession leaves out end the
// session on a stage's 521 as well: the auth hook's refusal, the
// connect hook asked again after XCLIENT, the connect hook on an
// implicit-TLS listener, a 521 under STARTTLS, and one that answers the
// first of a pipelined group (RFC 2920), whose commands read ahead,
// DATA and its text included, are never run.
func TestStage521EndsTheSessionEverywhere(t *testing.T) {
	r := reply.Reply{Code: 521, Enhanced: [3]int{5, 7, 1}, Text: "nope"}
	want := r.String()
	t.Run("auth", func(t *testing.T) {
		sub, clientTLS := withSubmission(t, config.KindSubmission)
		h := start(t, sub, withUsers(t, map[string]string{"alice": "pw"}), func(o *Options) { o.Policy = &authHookPolicy{r: &r} })
		d := h.dialTLS("sub", clientTLS)
		d.ehlo()
		d.authPlain("alice", "pw", want)
		d.expectClosed()
	})
	t.Run("xclient", func(t *testing.T) {
		h := start(t, withXClient("127.0.0.1/32"), func(o *Options) { o.Policy = &clientPolicy{client: "192.0.2.1", r: &r} })
		d := h.dialAs("127.0.0.1")
		d.ehlo()
		d.cmd("XCLIENT ADDR=192.0.2.1", want)
		d.expectClosed()
	})
	t.Run("implicit TLS", func(t *testing.T) {
		sub, clientTLS := withSubmission(t, config.KindSubmissions)
		h := start(t, sub, func(o *Options) { o.Policy = &hookPolicy{hook: "connect", r: &r} })
		tc, err := tls.Dial("tcp", h.addr("sub"), clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tc.Close() })
		d := newDialog(t, tc)
		d.expect(want)
		d.expectClosed()
	})
	t.Run("STARTTLS", func(t *testing.T) {
		tlsOpt, clientTLS := withSTARTTLS(t)
		h := start(t, tlsOpt, func(o *Options) { o.Policy = &hookPolicy{hook: "mail", r: &r} })
		d := h.dialTLS("mx", clientTLS)
		d.ehlo()
		d.cmd("MAIL FROM:<a@example.org>", want)
		d.expectClosed()
	})
	t.Run("pipelined", func(t *testing.T) {
		h := start(t, func(o *Options) { o.Policy = &hookPolicy{hook: "rcpt", r: &r} })
		d := h.dial()
		d.ehlo()
		d.send("MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>",
			"DATA", "Subject: x", "", "hi", ".", "QUIT")
		d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>", want)
		d.expectClosed()
		if n := len(h.messages()); n != 0 {
			t.Fatalf("queue holds %d messages", n)
		}
	})
}
