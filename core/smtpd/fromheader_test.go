package smtpd

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

func withCheckFromHeader(o *Options) { o.Config.Auth.CheckFromHeader = true }

// check_from_header on BDAT as on DATA: a forged From is refused at the
// last chunk with the exact reply, nothing is queued and the log's
// message line says whose From it was; the session goes on, and the
// user's own From is then queued.
func TestCheckFromHeaderBDAT(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withUsers(t, users), withCheckFromHeader)
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	send := func(msg, want string) {
		t.Helper()
		d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
		d.cmd("RCPT TO:<bob@example.org>", "250 2.0.0 I'll make sure <bob@example.org> gets this")
		head, tail := msg[:len(msg)/2], msg[len(msg)/2:]
		d.send(fmt.Sprintf("BDAT %d", len(head)))
		d.raw(head)
		d.expect("250 2.0.0 Continue")
		d.send(fmt.Sprintf("BDAT %d LAST", len(tail)))
		d.raw(tail)
		d.expect(want)
	}
	send("From: The CEO\r\n <ceo@bank.example>\r\nSubject: forged\r\n\r\nhi\r\n",
		"550 5.7.1 From header address not owned by the authenticated user")
	if n := len(h.messages()); n != 0 {
		t.Fatalf("forged From: %d messages queued", n)
	}
	line := regexp.MustCompile(`(?m)^.*msg=message .*$`).FindString(h.logs.String())
	if !strings.Contains(line, "user alice@example.org may not send as From: <ceo@bank.example>") {
		t.Errorf("message line %q does not say why", line)
	}
	send("From: Alice <alice@example.org>\r\nSubject: own\r\n\r\nhi\r\n", "250 2.0.0 Ok: queued as *")
	if n := len(h.messages()); n != 1 {
		t.Fatalf("own From: %d messages queued", n)
	}
}

// A user may send as in its From what it may use in MAIL FROM, and
// nothing else: "*" in [auth.senders] lets it name anyone.
func TestCheckFromHeaderSendersRule(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	senders := func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"*"}}
	}
	h := start(t, tlsOpt, withUsers(t, users), withCheckFromHeader, senders)
	for _, tc := range []struct{ user, pass, from, want string }{
		{"bob", "battery staple", "bob@example.org", "250 2.0.0 Ok: queued as *"},
		{"alice@example.org", "correct horse", "bob@example.org", "550 5.7.1 From header address not owned by the authenticated user"},
	} {
		d := h.dialTLS("mx", clientTLS)
		d.ehlo()
		d.authPlain(tc.user, tc.pass, "235 2.7.0 Authentication succeeded")
		d.cmd("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
		d.cmd("RCPT TO:<carol@example.org>", "250 2.0.0 I'll make sure <carol@example.org> gets this")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.send("From: <" + tc.from + ">\r\n\r\nhi\r\n.")
		d.expect(tc.want)
	}
}

// An internationalized domain is one domain in either spelling: a user
// [auth.senders] lets use @xn--bcher-kva.example, whose MUA gives MAIL
// FROM its A-labels (no SMTPUTF8) and the From field its UTF-8 (RFC 6532),
// sends as it; the dkim stage signs either with the same key.
func TestCheckFromHeaderIDN(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	senders := func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"@xn--bcher-kva.example"}}
	}
	h := start(t, tlsOpt, withUsers(t, users), withCheckFromHeader, senders)
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	for _, tc := range []struct{ from, want string }{
		{"Bob <bob@bücher.example>", "250 2.0.0 Ok: queued as *"},
		{"bob@xn--bcher-kva.example", "250 2.0.0 Ok: queued as *"},
		{"bob@bucher.example", "550 5.7.1 From header address not owned by the authenticated user"},
	} {
		d.cmd("MAIL FROM:<bob@xn--bcher-kva.example>", "250 2.0.0 Roger, accepting mail from <bob@xn--bcher-kva.example>")
		d.cmd("RCPT TO:<carol@example.org>", "250 2.0.0 I'll make sure <carol@example.org> gets this")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.send("From: " + tc.from + "\r\n\r\nhi\r\n.")
		d.expect(tc.want)
	}
}

func TestFromAddresses(t *testing.T) {
	for _, tc := range []struct {
		hdr  string
		want []string
		err  bool
	}{
		{"Subject: none\r\n", nil, false},
		{"From: <a@example.org>\r\n", []string{"a@example.org"}, false},
		{"from : a@example.org\r\n", []string{"a@example.org"}, false},
		{"From: A\r\n\t<a@example.org>,\r\n b@example.org\r\n", []string{"a@example.org", "b@example.org"}, false},
		{"From: G: a@example.org, b@example.net;\r\n", []string{"a@example.org", "b@example.net"}, false},
		{"From: undisclosed-recipients:;\r\n", nil, false},
		{"From: \r\n", nil, false},
		{"From: a@example.org\r\nSubject: x\r\nFROM: c@example.com\r\n", []string{"a@example.org", "c@example.com"}, false},
		{"From: \"a b\"@example.org\r\n", []string{`"a b"@example.org`}, false},
		{"From: \"ceo@bank\"@example.org\r\n", []string{`"ceo@bank"@example.org`}, false},
		{"From: =?Shift_JIS?B?g2WDWINn?= <a@example.org>\r\n", []string{"a@example.org"}, false},
		{"From: a@example.org <b@example.net>\r\n", nil, true},
		{"From: <a@example.org\r\n", nil, true},
		{"From: nobody\r\n", nil, true},
	} {
		got, err := fromAddresses([]byte(tc.hdr))
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, %v; want %q, error %v", tc.hdr, got, err, tc.want, tc.err)
		}
	}
}

// Off, and for a session that did not authenticate, the From is not read.
func TestCheckFromHeaderOff(t *testing.T) {
	h := start(t)
	forged := []byte("From: <ceo@bank.example>\r\n")
	if r := h.srv.checkFromHeader("alice@example.org", forged); r != nil {
		t.Errorf("check_from_header off: %v", r)
	}
	if err := h.srv.SetAuth(withAuth(h.cfg, config.Auth{CheckFromHeader: true})); err != nil {
		t.Fatal(err)
	}
	if r := h.srv.checkFromHeader("", forged); r != nil {
		t.Errorf("not authenticated: %v", r)
	}
	if r := h.srv.checkFromHeader("alice@example.org", forged); r == nil {
		t.Error("check_from_header on after a reload: forged From passed")
	}
}

// withAuth is c with [auth] a.
func withAuth(c *config.Config, a config.Auth) *config.Config {
	n := *c
	n.Auth = a
	return &n
}
