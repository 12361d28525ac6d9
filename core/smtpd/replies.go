package smtpd

import (
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/reply"
)

// Replies only the listener gives. They follow core/reply's form and can
// move there when another package needs them.
var (
	// RFC 5321 §4.5.3.1.6 (text line) and §4.5.3.1.4 (command line).
	lineTooLong = reply.Reply{Code: 500, Enhanced: [3]int{5, 5, 2}, Text: "Line too long (RFC 5321 section 4.5.3.1.6), closing connection"}
	// RFC 5321 §4.5.3.2.6: the client stopped sending DATA.
	dataTimeout = reply.Reply{Code: 421, Enhanced: [3]int{4, 4, 2}, Text: "Timeout waiting for data, closing connection"}
	// RFC 6531 §3.4, RFC 6533 §3: a non-ASCII address without SMTPUTF8.
	needSMTPUTF8 = reply.Reply{Code: 553, Enhanced: [3]int{5, 6, 7}, Text: "Non-ASCII address requires SMTPUTF8"}
	// RFC 5321 §4.1.4: MAIL inside a transaction.
	nestedMail = reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "Nested MAIL command"}
	// RFC 5321 §3.1: anything but QUIT after a 554 greeting.
	badSequence = reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "Bad sequence of commands"}
	// RFC 5321 §4.1.1.10: answer to QUIT.
	closing = reply.Reply{Code: 221, Enhanced: [3]int{2, 0, 0}, Text: "Bye"}
	// RFC 3463 4.4.5: system congestion (max_connections).
	tooManyConns = reply.Reply{Code: 421, Enhanced: [3]int{4, 4, 5}, Text: "Too many connections, try again later"}
)

// queued is the 250 that ends a transaction (RFC 5321 §4.1.1.4).
func queued(id string) *reply.Reply {
	return &reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "Ok: queued as " + id}
}

// toSMTP converts a reply for go-smtp, which writes any *smtp.SMTPError it
// gets back as is; that includes the 250 for DATA, the only way to choose
// its text. A reply without an enhanced code gets X.0.0 from go-smtp.
func toSMTP(r *reply.Reply) error {
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced), Message: r.Text}
}
