package smtpd

import (
	"slices"
	"testing"

	"github.com/emersion/go-smtp"
)

// withCert gives the "mx" listener a certificate, so it offers STARTTLS.
func withCert(certFile, keyFile string) func(*Options) {
	return func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
	}
}

// RFC 8689 §2, §4.1: REQUIRETLS is not offered in the clear, and MAIL
// with it there gets 530 5.7.10; the session goes on.
func TestRequireTLSRefusedInClear(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	h := start(t, withCert(certFile, keyFile))
	d := h.dial()
	if caps := d.ehloCaps(); slices.Contains(caps, "REQUIRETLS") || !slices.Contains(caps, "STARTTLS") {
		t.Fatalf("capabilities in the clear: %v", caps)
	}
	d.cmd("MAIL FROM:<a@example.org> REQUIRETLS", "530 5.7.10 REQUIRETLS needs a TLS session; issue STARTTLS first")
	d.envelope("b@example.org") // the session is still usable
	d.cmd("RSET", "250 2.0.0 Session reset")
	if n := len(h.messages()); n != 0 {
		t.Fatalf("%d messages queued", n)
	}
}

// Under TLS, REQUIRETLS is offered and MAIL with it queues a message
// tagged RequireTLS (RFC 8689 §5); one without it is not tagged.
func TestRequireTLSAcceptedUnderTLS(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, withCert(certFile, keyFile))
	for _, requireTLS := range []bool{true, false} {
		c, err := smtp.DialStartTLS(h.addr("mx"), clientTLS.Clone())
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("REQUIRETLS"); !ok {
			t.Fatal("REQUIRETLS not offered after STARTTLS")
		}
		if err := c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: requireTLS}); err != nil {
			t.Fatalf("MAIL under TLS: %v", err)
		}
		if err := c.Rcpt("b@example.org", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("Subject: x\r\n\r\nhi\r\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_ = c.Quit()
	}
	var got []bool
	for _, m := range h.messages() {
		got = append(got, m.RequireTLS)
	}
	if !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("queued messages' RequireTLS: %v, want [true false]", got)
	}
}
