package smtpd

import (
	"crypto/tls"
	"strings"
	"testing"
)

// Commands pipelined after STARTTLS in the same packet were sent in the
// clear, where anyone on the path could have written them: they are
// dropped, not run inside TLS (RFC 3207 §4.2, the plaintext command
// injection of CVE-2011-0411 in Postfix). The session starts over under
// TLS: the HELO name, an open transaction and the client's identity from
// before STARTTLS are gone, and the client must greet again (RFC 3207
// §4.2). The Received field names the name given under TLS.
func TestSTARTTLSDropsPipelinedPlaintext(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt)
	d := h.dial()
	d.send("EHLO plain.test")
	for l := d.line(); !strings.HasPrefix(l, "250 "); l = d.line() {
	}
	d.envelope("b@example.org")
	// One write: STARTTLS and what an attacker appended to it.
	d.send("STARTTLS", "EHLO injected.test", "MAIL FROM:<evil@example.net>", "RCPT TO:<victim@example.org>")
	d.expect("220 2.0.0 Ready to start TLS")
	tc := tls.Client(d.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = newDialog(t, tc)
	// The first reply under TLS is to the first command under TLS: none of
	// the injected ones was answered, so none was run.
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")
	d.send("EHLO secure.test")
	for l := d.line(); !strings.HasPrefix(l, "250 "); l = d.line() {
	}
	// The transaction opened in the clear is gone with the old session.
	d.cmd("RCPT TO:<b@example.org>", "503 5.5.1 Missing MAIL FROM command.")
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: t\r\n\r\nbody\r\n.\r\n")
	d.queued()
	m, body := h.only()
	if m.From != "a@example.org" || len(m.Rcpts) != 1 || m.Rcpts[0].Addr != "b@example.org" {
		t.Errorf("envelope %s -> %v", m.From, m.Rcpts)
	}
	if !strings.HasPrefix(string(body), "Received: from secure.test ") || !strings.Contains(string(body), " with ESMTPS id ") {
		t.Errorf("body:\n%s", body)
	}
}
