package smtp_test

import (
	"bufio"
	"testing"

	"github.com/emersion/go-smtp"
)

// ReplyLines sees every reply's lines, after ReplyCode, and what it
// returns is written, the code and the enhanced code on each line (RFC
// 2034 §4); Greeting is the 220's text after Domain, XCLIENT's too.
func TestServerReplyLinesAndGreeting(t *testing.T) {
	be, s, c, _ := testServer(t, func(s *smtp.Server) {
		s.Greeting = func(*smtp.Conn) string { return "ESMTP hello" }
		s.ReplyLines = func(_ *smtp.Conn, code int, _ smtp.EnhancedCode, lines []string) []string {
			if code/100 == 4 || code/100 == 5 {
				return append(lines, "footer")
			}
			return lines
		}
	})
	t.Cleanup(func() { c.Close(); s.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	rc.expect("220 localhost ESMTP hello")
	rc.ehlo()
	be.userErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "first\nsecond"}
	rc.send("MAIL FROM:<a@example.org>\r\n")
	rc.expect("550-5.7.1 first", "550-5.7.1 second", "550 5.7.1 footer")
	be.userErr = nil
	// go-smtp's own refusals too; a 2xx is untouched.
	rc.send("RCPT TO:<b@example.net>\r\n")
	rc.expect("503-5.5.1 Missing MAIL FROM command.", "503 5.5.1 footer")
	rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")

	_, s2, c2, _ := testServer(t, func(s *smtp.Server) {
		s.Greeting = func(*smtp.Conn) string { return "" }
	})
	t.Cleanup(func() { c2.Close(); s2.Close() })
	rc2 := &rawClient{t: t, c: c2, r: bufio.NewReader(c2)}
	rc2.expect("220 localhost")
}
