package smtp_test

import (
	"testing"

	"github.com/emersion/go-smtp"
)

// A 421 the session returns closes the connection once it is written (RFC
// 5321 §3.8), at MAIL and RCPT as at the end of DATA and BDAT; another
// refusal keeps the session.
func TestServer421Closes(t *testing.T) {
	closesAfter(t, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "go away"}, "421 4.7.0 go away")
}

// So does a 521, "does not accept mail" (RFC 7504 §3), after which the
// server closes, as Postfix's smtpd does after any 421 or 521 it sends.
func TestServer521Closes(t *testing.T) {
	closesAfter(t, &smtp.SMTPError{Code: 521, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "nope"}, "521 5.7.1 nope")
}

// closesAfter has the session refuse with goAway, written as want, at
// MAIL and at the end of DATA and BDAT, each after a refusal that keeps
// the session, and expects the connection closed after it.
func closesAfter(t *testing.T, goAway *smtp.SMTPError, want string) {
	t.Helper()
	refused := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "later"}

	t.Run("mail", func(t *testing.T) {
		be, _, rc := dialRaw(t)
		be.userErr = refused
		rc.ehlo()
		rc.cmd("MAIL FROM:<a@example.org>", "451 4.7.1 later")
		be.userErr = goAway
		rc.cmd("MAIL FROM:<a@example.org>", want)
		rc.expectClosed()
	})
	for _, data := range []string{"DATA", "BDAT"} {
		t.Run(data, func(t *testing.T) {
			be, _, rc := dialRaw(t)
			be.dataErr = refused
			rc.ehlo()
			send := func() {
				rc.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
				rc.cmd("RCPT TO:<b@example.net>", "250 2.0.0 I'll make sure <b@example.net> gets this")
				if data == "DATA" {
					rc.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
					rc.send("Subject: x\r\n\r\nhi\r\n.\r\n")
				} else {
					rc.send("BDAT 20 LAST\r\nSubject: x\r\n\r\nhi\r\n\r\n")
				}
			}
			send()
			rc.expect("451 4.7.1 later")
			be.dataErr = goAway
			send()
			rc.expect(want)
			rc.expectClosed()
		})
	}
}
