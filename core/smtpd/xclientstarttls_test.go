package smtpd

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

// STARTTLS forgets what XCLIENT said in the clear of the client's
// greeting and login (RFC 3207 §4.2), as Postfix's STARTTLS forgets the
// HELO name and the SASL login: under TLS, with no XCLIENT after it, the
// session is offered AUTH, bob's [auth] senders no longer binds it, it
// may not relay, and Received has its own EHLO and AUTH. The client the
// proxy named stays, as in Postfix.
func TestXClientForgottenAtSTARTTLS(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, withXClient("127.0.0.1/32"), tlsOpt, withUsers(t, users), func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"@bob.example"}}
		o.Config.Listeners[0].ReceivedAuthUser = true
	})
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT ADDR=198.51.100.7 HELO=orig.example PROTO=SMTP LOGIN=bob", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(d.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = newDialog(t, tc)
	if caps := d.ehloCaps(); !slices.Contains(caps, "AUTH PLAIN LOGIN") {
		t.Errorf("AUTH not offered under TLS after XCLIENT LOGIN in the clear: %q", caps)
	}
	d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	body := d.sendTo(h, "alice@example.org", "x@elsewhere.example")
	want := "Received: from client.test ([198.51.100.7])\r\n\t(Authenticated sender: alice@example.org)\r\n\tby mx.test (Sluice) with ESMTPSA id "
	if !strings.HasPrefix(body, want) {
		t.Errorf("message starts %q, want %q", body[:min(len(body), 160)], want)
	}
}
