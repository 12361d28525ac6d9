package smtpd

import (
	"slices"
	"testing"

	"github.com/emersion/go-smtp"
)

// RFC 8689 §5: a message whose header says "TLS-Required: No" is queued
// flagged TLSRequiredNo, unless it came with REQUIRETLS, which makes the
// field ignored; one without the field is not flagged.
func TestTLSRequiredNoFlagged(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, withCert(certFile, keyFile))
	for _, tc := range []struct {
		requireTLS bool
		header     string
	}{
		{false, "TLS-Required: no (ignore MTA-STS)\r\n"},
		{true, "TLS-Required: No\r\n"},
		{false, ""},
	} {
		c, err := smtp.DialStartTLS(h.addr("mx"), clientTLS.Clone())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: tc.requireTLS}); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("b@example.org", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("Subject: x\r\n" + tc.header + "\r\nhi\r\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_ = c.Quit()
	}
	var got []bool
	for _, m := range h.messages() {
		got = append(got, m.TLSRequiredNo)
	}
	if !slices.Equal(got, []bool{true, false, false}) {
		t.Fatalf("queued messages' TLSRequiredNo: %v, want [true false false]", got)
	}
}
