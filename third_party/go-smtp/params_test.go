package smtp_test

import (
	"testing"

	"github.com/emersion/go-smtp"
)

// MAIL and RCPT parameters are checked in the order the client wrote them:
// with two bad ones the first is answered, every time. v0.25.1 ranged over
// a map, so each such command got either reply by chance; fifty rounds
// make a random order fail all but certainly.
func TestServerParamOrder(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.MaxMessageBytes = 1 << 20; s.EnableDSN = true })
	rc.ehlo()
	for i := 0; i < 50; i++ {
		rc.cmd("MAIL FROM:<a@example.net> SIZE=5000000 BODY=FOO", "552 5.3.4 Max message size exceeded")
		rc.cmd("MAIL FROM:<a@example.net> BODY=FOO SIZE=5000000", "501 5.5.4 Unknown BODY value")
		rc.cmd("MAIL FROM:<a@example.net> RET=NONE ENVID=", "501 5.5.4 Unknown RET value")
		rc.cmd("MAIL FROM:<a@example.net> ENVID= RET=NONE", "501 5.5.4 Malformed ENVID parameter value")
	}
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	for i := 0; i < 50; i++ {
		rc.cmd("RCPT TO:<u@example.org> NOTIFY=SOMETIMES ORCPT=bogus", "501 5.5.4 Malformed NOTIFY parameter value")
		rc.cmd("RCPT TO:<u@example.org> ORCPT=bogus NOTIFY=SOMETIMES", "501 5.5.4 Malformed ORCPT parameter value")
	}
}

// A parameter given twice (the keyword in any case) is refused with 501
// 5.5.4 naming it, not taken with the last value (RFC 3461 §4: RET, ENVID,
// NOTIFY and ORCPT at most once; Postfix refuses a repeat). In order: a
// parameter that fails before the repeat is reached is answered instead.
func TestServerRepeatedParam(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		s.MaxMessageBytes = 1 << 20
		s.EnableDSN = true
		s.EnableSMTPUTF8 = true
	})
	rc.ehlo()
	for _, c := range []struct{ params, want string }{
		{"RET=FULL RET=HDRS", "501 5.5.4 Duplicate RET parameter"},
		{"RET=FULL ret=FULL", "501 5.5.4 Duplicate RET parameter"},
		{"ENVID=a ENVID=b", "501 5.5.4 Duplicate ENVID parameter"},
		{"SIZE=10 Size=20", "501 5.5.4 Duplicate SIZE parameter"},
		{"BODY=8BITMIME BODY=7BIT", "501 5.5.4 Duplicate BODY parameter"},
		{"SMTPUTF8 SMTPUTF8", "501 5.5.4 Duplicate SMTPUTF8 parameter"},
		{"AUTH=<> AUTH=<>", "501 5.5.4 Duplicate AUTH parameter"},
		{"SIZE=10 BODY=7BIT SIZE=10", "501 5.5.4 Duplicate SIZE parameter"},
		// The first SIZE fails before the second is seen.
		{"SIZE=5000000 SIZE=10", "552 5.3.4 Max message size exceeded"},
		{"BODY=FOO BODY=FOO", "501 5.5.4 Unknown BODY value"},
		{"X-FOO X-FOO", "555 5.5.4 Unknown MAIL FROM argument"},
	} {
		rc.cmd("MAIL FROM:<a@example.net> "+c.params, c.want)
	}
	// None of those opened a transaction.
	rc.cmd("RCPT TO:<u@example.org>", "503 5.5.1 Missing MAIL FROM command.")

	rc.cmd("MAIL FROM:<a@example.net> RET=HDRS ENVID=x", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	for _, c := range []struct{ params, want string }{
		{"NOTIFY=NEVER NOTIFY=SUCCESS", "501 5.5.4 Duplicate NOTIFY parameter"},
		{"NOTIFY=NEVER notify=NEVER", "501 5.5.4 Duplicate NOTIFY parameter"},
		{"ORCPT=rfc822;a@example.org ORCPT=rfc822;b@example.org", "501 5.5.4 Duplicate ORCPT parameter"},
		{"NOTIFY=SOMETIMES NOTIFY=NEVER", "501 5.5.4 Malformed NOTIFY parameter value"},
	} {
		rc.cmd("RCPT TO:<u@example.org> "+c.params, c.want)
	}
	rc.cmd("RCPT TO:<u@example.org> NOTIFY=NEVER ORCPT=rfc822;a@example.org", "250 2.0.0 I'll make sure <u@example.org> gets this")
}

// VRFY takes an argument (RFC 5321 §4.1.1.6: "VRFY" SP String); without
// one it is a syntax error, 501 (§4.2.4), as Postfix answers, not 252.
func TestServerVrfyWithoutArgument(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.ehlo()
	rc.cmd("VRFY", "501 5.5.4 Syntax: VRFY address")
	rc.cmd("vrfy ", "501 5.5.4 Syntax: VRFY address")
	rc.cmd("VRFY postmaster", "252 2.5.0 Cannot VRFY user, but will accept message")
}
