package smtpd

import (
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// The account that sent a message is on its msg=message line and in its
// queued envelope, as Postfix's smtpd logs sasl_username= on the line of
// the queue ID: when an application's password leaks, the operator must
// find the mail its sessions queued (grep ID, sluice queue show) without
// pairing the "authenticated" line's client and time with the messages
// of every session from that address. A session that did not
// authenticate has neither.
func TestAuthUserOnMessage(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users))

	id, _, _ := authReceived(t, h, "sub", clientTLS, "alice@example.org", "correct horse", false)
	waitLog(t, h, "msg=message id="+id)
	line := regexp.MustCompile(`(?m)^.*msg=message id=` + id + `.*$`).FindString(h.logs.String())
	if !strings.Contains(line, " user=alice@example.org ") {
		t.Errorf("the message line does not name the user:\n%s", line)
	}
	m, err := h.q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if m.AuthUser != "alice@example.org" {
		t.Errorf("envelope AuthUser %q, want alice@example.org", m.AuthUser)
	}

	// A transaction the user gives up is logged with the name too.
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
	d.cmd("RCPT TO:<c@example.net>", "250 2.0.0 I'll make sure <c@example.net> gets this")
	d.cmd("RSET", "250 2.0.0 Session reset")
	waitLog(t, h, `user=alice@example.org from=alice@example.org rcpts=[c@example.net] result=aborted by=reset`)

	// Plain SMTP on mx, from a relay client: no user anywhere.
	d = h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.send("Subject: s", "", "hi", ".")
	plainID := d.queued()
	waitLog(t, h, "msg=message id="+plainID)
	line = regexp.MustCompile(`(?m)^.*msg=message id=` + plainID + `.*$`).FindString(h.logs.String())
	if strings.Contains(line, " user=") {
		t.Errorf("a session that did not authenticate names a user:\n%s", line)
	}
	if m, err := h.q.Get(plainID); err != nil || m.AuthUser != "" {
		t.Errorf("envelope AuthUser %q (%v), want none", m.AuthUser, err)
	}
}
