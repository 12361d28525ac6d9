package smtpd

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
)

// hostileUser is a name the users file takes (no ':', space or control
// character) that would break a comment written as it is: an unmatched
// ")", a backslash, an unclosed "(" and a UTF-8 letter.
const hostileUser = "we(ir)d)\\(é"

// testDate is testClock as every Received field in these tests ends.
const testDate = "Tue, 04 Mar 2025 05:06:07 +0000"

// authReceived sends a message to bob@example.org over the listener with a
// go-smtp client under STARTTLS, after AUTH PLAIN as user unless user is
// "", with SMTPUTF8 when utf8; it returns the queue ID, the Received field
// Sluice wrote and the TLS cipher suite's name.
func authReceived(t *testing.T, h *harness, listener string, clientTLS *tls.Config, user, pass string, utf8 bool) (id, field, cipher string) {
	t.Helper()
	c, err := smtp.DialStartTLS(h.addr(listener), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			t.Fatalf("AUTH as %q: %v", user, err)
		}
	}
	if err := c.Mail("", &smtp.MailOptions{UTF8: utf8}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: s\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(resp.StatusText, "2.0.0 Ok: queued as ")
	if !ok {
		t.Fatalf("DATA reply %q", resp.StatusText)
	}
	cs, _ := c.TLSConnectionState()
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	body, err := h.q.Body(id)
	if err != nil {
		t.Fatal(err)
	}
	field, _, _ = strings.Cut(string(body), "Subject: s\r\n")
	return id, field, tls.CipherSuiteName(cs.CipherSuite)
}

// received_auth_user (Postfix's smtpd_sasl_authenticated_header) names an
// authenticated session's user in its Received field, where Postfix does:
// a line of its own between the from and by clauses, or after "by HOST
// (Sluice)" with received = "hide-client". The name is made fit for a
// comment: an unmatched parenthesis, a backslash, and UTF-8 in a message
// without SMTPUTF8, become "?". A session that did not authenticate, and
// a listener without the key, write the field as before.
func TestReceivedAuthUser(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, withUsers(t, map[string]string{"alice@example.org": "correct horse", hostileUser: "pw"}), func(o *Options) {
		ls := o.Config.Listeners
		ls[0].TLSCert, ls[0].TLSKey, ls[0].ReceivedAuthUser = certFile, keyFile, true
		o.Config.Listeners = append(ls,
			config.Listener{Name: "sub", Listen: "127.0.0.1:0", Kind: config.KindSubmission, TLSCert: certFile, TLSKey: keyFile, Received: config.ReceivedHideClient, ReceivedAuthUser: true},
			config.Listener{Name: "plain", Listen: "127.0.0.1:0", Kind: config.KindSubmission, TLSCert: certFile, TLSKey: keyFile})
	})
	for _, tc := range []struct {
		name, listener, user, pass string
		utf8                       bool
		want                       string // with ID for the queue ID and CIPHER for the suite
	}{{
		name: "full", listener: "mx", user: "alice@example.org", pass: "correct horse",
		want: "Received: from client.test ([127.0.0.1])\r\n" +
			"\t(Authenticated sender: alice@example.org)\r\n" +
			"\tby mx.test (Sluice) with ESMTPSA id ID\r\n",
	}, {
		name: "not authenticated", listener: "mx",
		want: "Received: from client.test ([127.0.0.1])\r\n" +
			"\tby mx.test (Sluice) with ESMTPS id ID\r\n",
	}, {
		name: "hide-client", listener: "sub", user: "alice@example.org", pass: "correct horse",
		want: "Received: by mx.test (Sluice)\r\n" +
			"\t(Authenticated sender: alice@example.org)\r\n" +
			"\twith ESMTPSA id ID\r\n",
	}, {
		name: "listener without the key", listener: "plain", user: "alice@example.org", pass: "correct horse",
		want: "Received: from client.test ([127.0.0.1])\r\n" +
			"\tby mx.test (Sluice) with ESMTPSA id ID\r\n",
	}, {
		name: "hostile name", listener: "mx", user: hostileUser, pass: "pw",
		want: "Received: from client.test ([127.0.0.1])\r\n" +
			"\t(Authenticated sender: we(ir)d????)\r\n" +
			"\tby mx.test (Sluice) with ESMTPSA id ID\r\n",
	}, {
		name: "hostile name, SMTPUTF8", listener: "mx", user: hostileUser, pass: "pw", utf8: true,
		want: "Received: from client.test ([127.0.0.1])\r\n" +
			"\t(Authenticated sender: we(ir)d???é)\r\n" +
			"\tby mx.test (Sluice) with UTF8SMTPSA id ID\r\n",
	}} {
		id, got, cipher := authReceived(t, h, tc.listener, clientTLS, tc.user, tc.pass, tc.utf8)
		want := strings.ReplaceAll(tc.want, "ID", id) + "\tfor <bob@example.org>\r\n\ttls " + cipher + "; " + testDate + "\r\n"
		if got != want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, want)
		}
	}
}

// acceptAuth is an auth hook that accepts any user and password, as a
// plugin may: the name is then whatever the client sent.
type acceptAuth struct{ AllowAll }

func (acceptAuth) Auth(context.Context, *SessionInfo, string, string, []byte) AuthVerdict {
	return AuthVerdict{Decision: AuthAccept}
}

// A name an auth hook accepts may hold any byte but NUL, CR and LF
// included: they become "?", so the name cannot end the field and start
// one of its own, and a name longer than 255 octets is cut there.
func TestReceivedAuthUserControls(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, func(o *Options) {
		o.Policy = acceptAuth{}
		l := &o.Config.Listeners[0]
		l.TLSCert, l.TLSKey, l.ReceivedAuthUser = certFile, keyFile, true
	})
	long := strings.Repeat("u", 300)
	for user, want := range map[string]string{
		"x\r\nX-Evil: y(\x01\x7f\xff": "x??X-Evil: y????",
		long:                          long[:255],
	} {
		_, got, _ := authReceived(t, h, "mx", clientTLS, user, "pw", false)
		if line := "\r\n\t(Authenticated sender: " + want + ")\r\n\tby mx.test "; !strings.Contains(got, line) || strings.Contains(got, "\nX-Evil") {
			t.Errorf("user %q:\ngot  %q\nwant %q in it", user, got, line)
		}
	}
}

// A reload turns received_auth_user on without a new socket, for the
// connections accepted from then on: one open before keeps the field as
// it was.
func TestReceivedAuthUserReload(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, withUsers(t, users), func(o *Options) {
		l := &o.Config.Listeners[0]
		l.TLSCert, l.TLSKey = certFile, keyFile
	})
	session := func() *dialog {
		d := h.dialTLS("mx", clientTLS)
		d.ehlo()
		d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
		return d
	}
	before := session()
	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].ReceivedAuthUser = true
	ch, err := h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v; want the listener kept", ch, err)
	}
	const from = "Received: from client.test ([127.0.0.1])\r\n\t"
	if body := before.sendTo(h, "", "bob@example.org"); !strings.HasPrefix(body, from+"by mx.test ") {
		t.Errorf("session opened before the reload: %q", body[:min(len(body), 120)])
	}
	if body := session().sendTo(h, "", "bob@example.org"); !strings.HasPrefix(body, from+"(Authenticated sender: bob)\r\n\tby mx.test ") {
		t.Errorf("session opened after the reload: %q", body[:min(len(body), 120)])
	}
}
