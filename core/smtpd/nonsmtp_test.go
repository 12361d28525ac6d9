package smtpd

import (
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// byeNonSMTP is Postfix's reply to a line that is no SMTP command.
const byeNonSMTP = "221 2.7.0 Error: I can break rules, too. Goodbye."

// An HTTP request sent to the SMTP port — a browser's form, or a server
// fetching a URL an attacker chose, with SMTP commands in its body — is
// answered 221 2.7.0 at its request line and the connection closed, as
// Postfix's smtpd answers it: none of the commands it carries is run,
// with forbid_unauth_pipelining off too. One WARN line shows the line.
// Before, the request line and its headers were each answered 500 or
// 501, and the commands in the body were run.
func TestNonSMTPCommandHTTP(t *testing.T) {
	h := start(t, withPipelining(false))
	for _, verb := range []string{"POST", "get", "CONNECT"} {
		d := h.dial()
		d.raw(verb + " / HTTP/1.1\r\nHost: mx.example.org\r\nContent-Length: 99\r\n\r\n" +
			"EHLO x\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
		d.expect(byeNonSMTP)
		d.expectClosed()
	}
	waitLog(t, h, `level=WARN msg="non-SMTP command" listener=mx client=127.0.0.1 input="POST / HTTP/1.1" reply="`+byeNonSMTP+`"`)
	if n := len(h.messages()); n != 0 {
		t.Errorf("%d messages queued, want none", n)
	}
}

// A client whose DATA was refused (no valid recipients) and that sends
// its message anyway, having not waited for the 354, meets its first
// header line: 221 2.7.0 and a close, as from Postfix, before a line of
// its message can run as a command (its own "MAIL FROM:" lines
// included). A colon in a command's argument is no header.
func TestNonSMTPCommandHeaderAfterRefusedDATA(t *testing.T) {
	h := start(t, withPipelining(false), withLimits(func(l *config.Limits) { l.MaxErrors = 50 }))
	d := h.dial()
	d.ehlo()
	d.cmd("NOOP a:b", "250 2.0.0 I have successfully done nothing")
	d.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	d.cmd("RCPT TO:<b@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.raw("DATA\r\nFrom: <a@example.net>\r\nSubject: x\r\n\r\nRSET\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
	d.expect("554 5.5.1 No valid recipients")
	d.expect(byeNonSMTP)
	d.expectClosed()
	waitLog(t, h, `input="From: <a@example.net>"`)
	if n := len(h.messages()); n != 0 {
		t.Errorf("%d messages queued, want none", n)
	}
}
