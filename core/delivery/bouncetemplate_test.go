package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
)

// sinkTemplates is a site's bounce(5) file, as Postfix reads it.
const sinkTemplates = `failure_template = <<EOF
Charset: us-ascii
From: Example Mail <bounces>
Subject: Your mail to example.org bounced
Postmaster-Subject: Postmaster copy: a bounce bounced

This is the mail system at $myhostname ($mydomain).
.
Mail is kept $maximal_queue_lifetime_days days, warned of after $delay_warning_time_hours hours.
EOF
`

func withTemplates(t *testing.T, h *harness) {
	t.Helper()
	ts, err := bounce.ParseTemplates("bounce.cf", []byte(sinkTemplates))
	if err != nil {
		t.Fatal(err)
	}
	h.opt.Bounce.Templates = ts
	h.opt.Bounce.DelayWarning = 2 * time.Hour
	h.opt.Config.MaxAge.Duration = 3 * 24 * time.Hour
}

// TestBounceTemplate: a 550 from a real SMTP server gets the sender a
// report with the template's From (a bare name at the hostname, as
// Postfix's @$myorigin), Subject and text, the values of its $names
// those of the agent's config, and the recipients list and RFC 3464
// part as ever; a line "." of the text is sent dot-stuffed (RFC 5321
// §4.5.2), not as the end of the data.
func TestBounceTemplate(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
	h.opt.Config.Relay = s.addr
	withTemplates(t, h)
	h.start()
	id := h.enqueue(msg("s@origin.test", "good@dest.test", "bad@dest.test"))
	h.recorded(id)
	d := waitReport(t, s)
	if d.msg.from != "" || len(d.msg.rcpts) != 1 || d.msg.rcpts[0] != "s@origin.test" {
		t.Errorf("report envelope %q → %q", d.msg.from, d.msg.rcpts)
	}
	if got := d.header.Get("Subject"); got != "Your mail to example.org bounced" {
		t.Errorf("Subject %q", got)
	}
	if got := d.header.Get("From"); got != "Example Mail <bounces@mta.sluice.test>" {
		t.Errorf("From %q", got)
	}
	want := "This is the mail system at mta.sluice.test (sluice.test).\r\n.\r\n" +
		"Mail is kept 3 days, warned of after 2 hours.\r\n\r\n" +
		"    <bad@dest.test>: 550 5.1.1 no such user\r\n"
	if text := string(d.bodies[0]); !strings.HasPrefix(text, want) {
		t.Errorf("text:\n%s\nwant it to begin\n%s", text, want)
	}
	if r := d.rcpt(t, "bad@dest.test"); r.Get("Action") != "failed" || r.Get("Diagnostic-Code") != "smtp; 550 5.1.1 no such user" || len(d.rcpts) != 1 {
		t.Errorf("delivery-status: %d blocks, %v", len(d.rcpts), r)
	}
	if d.types[2] != "message/rfc822" || string(d.bodies[2]) != testBody {
		t.Errorf("returned %s %q", d.types[2], d.bodies[2])
	}
}

// TestBounceTemplateDoubleBounce: a report to double_bounce_to takes
// the template's Postmaster-Subject, as Postfix's postmaster copy.
func TestBounceTemplateDoubleBounce(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
	h.opt.Config.Relay = s.addr
	h.opt.Bounce.DoubleBounceTo = "postmaster@dest.test"
	withTemplates(t, h)
	h.start()
	h.recorded(h.enqueue(msg("", "bad@dest.test")))
	d := waitReport(t, s)
	if d.msg.rcpts[0] != "postmaster@dest.test" || d.header.Get("Subject") != "Postmaster copy: a bounce bounced" ||
		!strings.HasPrefix(string(d.bodies[0]), "This is the mail system at host mta.sluice.test.\r\n") {
		t.Errorf("double bounce to %q, Subject %q:\n%s", d.msg.rcpts, d.header.Get("Subject"), d.bodies[0])
	}
}
