package smtpd

import (
	"strings"
	"testing"
)

// What strict and odd clients send, from an audit against RFC 5321: each
// is answered as the RFC (or common practice, for the space after the
// colon) says, and what is queued is what was sent.
func TestStrictAndOddClientDialog(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.cmd("HELO", "501 5.5.2 Domain/address argument required for HELO") // §4.1.1.1
	d.send("ehlo [127.0.0.1]")                                           // §4.1.3 address literal
	d.expect("250-mx.test Hello [127.0.0.1]", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES",
		"250-CHUNKING", "250-SMTPUTF8", "250-DSN", "250-SIZE 4096", "250 LIMITS RCPTMAX=3 MAILMAX=100")
	d.cmd("noop with an argument", "250 2.0.0 I have successfully done nothing")    // §4.1.1.9
	d.cmd("VRFY postmaster", "252 2.5.0 Cannot VRFY user, but will accept message") // §3.5.3, no user list
	d.cmd("EXPN staff", "502 5.5.1 EXPN command not implemented")
	d.cmd("HELP", "502 5.5.1 HELP command not implemented")
	// A second EHLO ends the open transaction (§4.1.4).
	d.cmd("mail from:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.ehlo()
	d.cmd("RCPT TO:<b@example.org>", "503 5.5.1 Missing MAIL FROM command.")
	// Parameters: unknown (§4.1.1.11), BINARYMIME not offered (RFC
	// 3030 §3), AUTH=<> (RFC 4954 §5).
	d.cmd("MAIL FROM:<a@example.org> X-FOO=1", "555 5.5.4 Unknown MAIL FROM argument")
	d.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME", "504 5.5.4 BINARYMIME is not implemented")
	d.cmd("MAIL FROM:<a@example.org> AUTH=<> BODY=8BITMIME", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	// The null sender with several recipients; a space after the colon;
	// quoted local parts, echoed and stored quoted; <Postmaster> in any
	// case (§4.5.1).
	d.cmd("MAIL FROM: <>", "250 2.0.0 Roger, accepting mail from <>")
	d.cmd("RCPT TO: <b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd(`RCPT TO:<"a\"b"@example.org>`, `250 2.0.0 I'll make sure <"a\"b"@example.org> gets this`)
	d.cmd("RCPT TO:<POSTMASTER>", "250 2.0.0 I'll make sure <postmaster> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	// A dot with trailing spaces is text, not the end (§4.1.1.4), and a
	// stuffed dot loses one dot (§4.5.2).
	d.raw("Subject: x\r\n\r\n. \r\n..dot\r\n...\r\n.\r\n")
	d.queued()
	m, body := h.only()
	var got []string
	for _, rc := range m.Rcpts {
		got = append(got, rc.Addr)
	}
	if m.From != "" || strings.Join(got, ",") != `b@example.org,"a\"b"@example.org,postmaster@example.org` {
		t.Errorf("envelope from %q to %q", m.From, got)
	}
	if !strings.HasSuffix(string(body), "\r\nSubject: x\r\n\r\n \r\n.dot\r\n..\r\n") {
		t.Errorf("body %q", body)
	}
	// Several recipients: the Received field has no "for" (RFC 5321 §4.4).
	if !strings.Contains(string(body), "(Sluice) with ESMTP id "+m.ID+";\r\n\t") {
		t.Errorf("Received field in %q", body)
	}
}
