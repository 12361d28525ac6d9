package smtpd

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
)

// requireTLS gives the "mx" listener a certificate and tls_required.
func requireTLS(certFile, keyFile string) func(*Options) {
	return func(o *Options) {
		l := &o.Config.Listeners[0]
		l.TLSCert, l.TLSKey, l.TLSRequired = certFile, keyFile, true
	}
}

// is530 fails unless err is RFC 3207 §4's refusal in the clear.
func is530(t *testing.T, what string, err error) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 530 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) || se.Message != "Must issue a STARTTLS command first" {
		t.Fatalf("%s in the clear: %v, want 530 5.7.0 Must issue a STARTTLS command first", what, err)
	}
}

// tls_required (Postfix's smtpd_tls_security_level = encrypt): a go-smtp
// client is offered STARTTLS, refused MAIL and VRFY in the clear, and
// delivers under TLS.
func TestTLSRequiredClient(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, requireTLS(certFile, keyFile))
	c, err := smtp.Dial(h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	is530(t, "MAIL", c.Mail("a@example.org", nil))
	is530(t, "VRFY", c.Verify("b@example.org"))
	if err := c.Noop(); err != nil {
		t.Fatalf("NOOP in the clear: %v", err)
	}
	// go-smtp's client starts TLS only as it connects: a second session.
	c, err = smtp.DialStartTLS(h.addr("mx"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatalf("MAIL under TLS: %v", err)
	}
	if err := c.Rcpt("b@example.org", nil); err != nil {
		t.Fatalf("RCPT under TLS: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA under TLS: %v", err)
	}
	if m, _ := h.only(); m.From != "a@example.org" {
		t.Fatalf("queued from %q", m.From)
	}
}

// Every command of a transaction, AUTH, VRFY and EXPN get 530 in the
// clear, and each counts towards max_errors, as Postfix counts it towards
// smtpd_hard_error_limit; a BDAT chunk is read, not run.
func TestTLSRequiredCountsErrors(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	h := start(t, requireTLS(certFile, keyFile), withLimits(func(l *config.Limits) { l.MaxErrors = 7 }))
	d := h.dial()
	d.ehlo()
	const must = "530 5.7.0 Must issue a STARTTLS command first"
	for _, cmd := range []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA", "AUTH PLAIN", "VRFY b", "EXPN list"} {
		d.cmd(cmd, must)
	}
	d.raw("BDAT 4\r\nQUIT")
	d.expect(must)
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<a@example.org>", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
	if len(h.messages()) != 0 {
		t.Fatal("a message was queued in the clear")
	}
}

// On a submission listener tls_required answers AUTH in the clear with
// 530 too (not 538 5.7.11, RFC 4954's reply for a mechanism needing TLS).
func TestTLSRequiredSubmission(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	h := start(t, requireTLS(certFile, keyFile), func(o *Options) { o.Config.Listeners[0].Kind = config.KindSubmission })
	d := h.dial()
	d.ehlo()
	d.cmd("AUTH PLAIN AGEAYg==", "530 5.7.0 Must issue a STARTTLS command first")
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.0 Must issue a STARTTLS command first")
}

// A reload that turns tls_required on keeps the listener and its
// sessions: one opened before goes on as it began, new ones are refused
// mail in the clear; turned off again, new ones may send in the clear.
func TestTLSRequiredReload(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	h := start(t, func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
	})
	before := h.dial()
	before.ehlo()
	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].TLSRequired = true
	ch, err := h.srv.SetListeners(lcs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("changes %+v: want the listener kept", ch)
	}
	after := h.dial()
	after.ehlo()
	after.cmd("MAIL FROM:<a@example.org>", "530 5.7.0 Must issue a STARTTLS command first")
	before.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")

	lcs[0].TLSRequired = false
	if _, err := h.srv.SetListeners(lcs); err != nil {
		t.Fatal(err)
	}
	again := h.dial()
	again.ehlo()
	again.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	after.cmd("MAIL FROM:<a@example.org>", "530 5.7.0 Must issue a STARTTLS command first")
	if strings.Contains(h.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", h.logs.String())
	}
}

// Under soft_bounce the 530 goes out as 430 4.7.0, as Postfix's
// smtpd_chat_reply turns it, and still counts: max_errors' 421 ends it.
func TestTLSRequiredSoftBounce(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	h := start(t, requireTLS(certFile, keyFile), withSoftBounce, withLimits(func(l *config.Limits) { l.MaxErrors = 1 }))
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "430 4.7.0 Must issue a STARTTLS command first")
	d.cmd("RCPT TO:<b@example.org>", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
}
