package smtpd

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
)

func withSoftBounce(o *Options) { o.Config.SoftBounce = true }

// Under soft_bounce every 5xx goes out as 4xx with its text: a policy
// refusal, go-smtp's own SIZE and syntax errors (Postfix exempts none), a
// refusal at the end of DATA; the log says what it would have been.
func TestSoftBounceReplies(t *testing.T) {
	h := start(t, withSoftBounce, withLimits(func(l *config.Limits) { l.MaxHeaderSize = 100 }))
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:a", "401 4.5.2 Was expecting MAIL arg syntax of FROM:<address>")
	d.cmd("FOO", "400 4.5.2 Syntax errors, FOO command unrecognized")
	d.cmd("MAIL FROM:<a@example.org> SIZE=999999", "452 4.3.4 Max message size exceeded")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "454 4.7.1 Relay access denied")
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: " + strings.Repeat("x", 120) + "\r\n\r\nbody\r\n.\r\n")
	d.expect("452 4.3.4 Message header size exceeds limit")
	logs := h.logs.String()
	if !strings.Contains(logs, `over max_header_size)" took=`) || strings.Count(logs, `soft_bounce="turned 552 5.3.4"`) != 2 {
		t.Errorf("log lacks the turned SIZE and header refusals:\n%s", logs)
	}
	for _, want := range []string{
		`reply="400 4.5.2 Syntax errors, command unrecognized" soft_bounce="turned 500 5.5.2"`,
		`rcpt=x@elsewhere.example reply="454 4.7.1 Relay access denied (relaying to elsewhere.example from 127.0.0.1)" soft_bounce="turned 554 5.7.1"`,
		`reply="452 4.3.4 Message header size exceeds limit (header section over max_header_size)"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if n := len(h.messages()); n != 0 {
		t.Errorf("%d messages queued, want none", n)
	}
}

// A go-smtp client takes the turned reply as a temporary failure, and a
// reload that turns soft_bounce off applies at once, in the open session.
func TestSoftBounceClientAndReload(t *testing.T) {
	h := start(t, withSoftBounce)
	c, err := smtp.Dial(h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Rcpt("x@elsewhere.example", nil); !errors.As(err, &se) || !se.Temporary() || se.Code != 454 {
		t.Fatalf("RCPT under soft_bounce: %v, want a temporary 454", err)
	}
	off := *h.cfg
	off.SoftBounce = false
	h.srv.SetSoftBounce(&off)
	if err := c.Rcpt("x@elsewhere.example", nil); !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("RCPT after soft_bounce went off: %v, want 554 5.7.1", err)
	}
}
