package smtpd

import (
	"strconv"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/reply"
)

// Replies only the listener gives. They follow core/reply's form and can
// move there when another package needs them.
var (
	// RFC 5321 §4.5.3.1.6 (text line) and §4.5.3.1.4 (command line).
	lineTooLong = reply.Reply{Code: 500, Enhanced: [3]int{5, 5, 2}, Text: "Line too long (RFC 5321 section 4.5.3.1.6)"}
	// RFC 5321 §4.5.3.2.6: the client stopped sending DATA.
	dataTimeout = reply.Reply{Code: 421, Enhanced: [3]int{4, 4, 2}, Text: "Timeout waiting for data, closing connection"}
	// RFC 6531 §3.4, RFC 6533 §3: a non-ASCII address without SMTPUTF8.
	needSMTPUTF8 = reply.Reply{Code: 553, Enhanced: [3]int{5, 6, 7}, Text: "Non-ASCII address requires SMTPUTF8"}
	// RFC 6533 §3: a utf-8-addr ORCPT must be UTF-8 (go-smtp passes the
	// raw bytes of utf-8-addr-unitext through unchecked); go-smtp's own
	// answer to a malformed ORCPT.
	badORCPT = reply.Reply{Code: 501, Enhanced: [3]int{5, 5, 4}, Text: "Malformed ORCPT parameter value"}
	// RFC 8689 §4.1: REQUIRETLS is used only over TLS; the extension
	// is not offered in the clear. 530 as for any command that needs
	// STARTTLS first (RFC 3207 §4), X.7.10 "encryption needed" (RFC 5248,
	// as RFC 8689 §6.2 uses it).
	requireTLSInClear = reply.Reply{Code: 530, Enhanced: [3]int{5, 7, 10}, Text: "REQUIRETLS needs a TLS session; issue STARTTLS first"}
	// RFC 5321 §4.1.4: MAIL inside a transaction.
	nestedMail = reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "Nested MAIL command"}
	// RFC 5321 §3.1: anything but QUIT after a 554 greeting.
	badSequence = reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "Bad sequence of commands"}
	// RFC 5321 §4.1.1.10: answer to QUIT.
	closing = reply.Reply{Code: 221, Enhanced: [3]int{2, 0, 0}, Text: "Bye"}
	// RFC 3463 4.4.5: system congestion (max_connections).
	tooManyConns = reply.Reply{Code: 421, Enhanced: [3]int{4, 4, 5}, Text: "Too many connections, try again later"}

	// The per-client limits answer as Postfix's anvil does: 4.7.0, a
	// policy refusal that a well-behaved client retries later.
	tooManyConnsFromIP = reply.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "Too many connections from your address, try again later"}
	connRateExceeded   = reply.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "Too many connections from your address in a short time, try again later"}
	tooManyMessages    = reply.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "Too many messages in one session, reconnect to send more"}
	tooManyErrors      = reply.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "Too many errors, closing connection"}
	// RFC 5321 §4.2.5: 450 for a mailbox action refused for now.
	messageRateIP     = reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 0}, Text: "Too many messages from your address, try again later"}
	messageRateSender = reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 0}, Text: "Too many messages from this sender, try again later"}
	// RFC 5321 §4.5.3.1.10: 452 for too many recipients; the client
	// sends the rest later.
	recipientRateSender = reply.Reply{Code: 452, Enhanced: [3]int{4, 7, 0}, Text: "Recipient rate limit for this sender reached, send the rest later"}
	recipientRateIP     = reply.Reply{Code: 452, Enhanced: [3]int{4, 7, 0}, Text: "Recipient rate limit for your address reached, send the rest later"}
	// RFC 1870 §6.3 and RFC 3463 X.3.4 ("per-message size limit ... for
	// physical or policy reasons"): the header section is over
	// max_header_size.
	headerTooBig = reply.Reply{Code: 552, Enhanced: [3]int{5, 3, 4}, Text: "Message header size exceeds limit"}

	// RFC 4954 §6 replies.
	authRequired  = reply.Reply{Code: 530, Enhanced: [3]int{5, 7, 0}, Text: "Authentication required"}
	authNeedsTLS  = reply.Reply{Code: 538, Enhanced: [3]int{5, 7, 11}, Text: "Encryption required for requested authentication mechanism"}
	authBadMech   = reply.Reply{Code: 504, Enhanced: [3]int{5, 5, 4}, Text: "Unrecognized authentication type"}
	authInvalid   = reply.Reply{Code: 535, Enhanced: [3]int{5, 7, 8}, Text: "Authentication credentials invalid"}
	authTempFail  = reply.Reply{Code: 454, Enhanced: [3]int{4, 7, 0}, Text: "Temporary authentication failure"}
	authLockedOut = reply.Reply{Code: 454, Enhanced: [3]int{4, 7, 0}, Text: "Too many failed authentication attempts, try again later"}
	// AUTH where it is not offered (an smtp listener with auth = false,
	// or with nothing to check a login against). RFC 5321 §4.2.4 keeps
	// 502 for a command the server does not implement; AUTH is one it
	// does, not enabled in this session: 503 5.5.1, as Postfix answers
	// it (smtpd_sasl_auth_cmd: "Error: authentication not enabled").
	authUnavailable = reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "AUTH not available here"}
	// RFC 4954 §4: "The AUTH command is not permitted during a mail
	// transaction."
	authInTxn = reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "AUTH not permitted during a mail transaction"}
	// RFC 4954 §4: "After a successful AUTH command completes, a server
	// MUST reject any further AUTH commands with a 503 reply."
	authAlready = reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "Already authenticated"}
	// RFC 3463 X.7.1: the authenticated user may not use this sender.
	senderNotOwned = reply.Reply{Code: 553, Enhanced: [3]int{5, 7, 1}, Text: "Sender address not owned by the authenticated user"}
	// check_from_header: the From field names someone the user may not
	// send as, or cannot be read to tell (fromheader.go).
	fromNotOwned   = reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "From header address not owned by the authenticated user"}
	fromUnreadable = reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "From header field unreadable, cannot check it against the authenticated user"}
	// RFC 5321 §3.6.1 and §7.1: percent hacks, bang paths and address
	// literals of other hosts are relay attempts.
	relayTrick = reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "Relay access denied"}
	// RFC 5321 §4.1.2 A-d-l: Appendix C lets a server ignore a source
	// route, but Sluice refuses it as a relay trick (see routeRefused).
	sourceRoute = reply.Reply{Code: 553, Enhanced: [3]int{5, 7, 1}, Text: "Source routes are not accepted"}
)

// minDataRate is Postfix's reply to a client whose message data came
// slower than min_data_rate: 421 4.4.2 (RFC 3463 X.4.2, the connection
// timed out) with the server's name (RFC 5321 §3.8), as go-smtp gives it
// for a BDAT chunk.
func (s *Server) minDataRate() *reply.Reply {
	return &reply.Reply{Code: 421, Enhanced: [3]int{4, 4, 2}, Text: s.cfg.Hostname + " Error: timeout exceeded",
		Reason: "min_data_rate: message data slower than " + strconv.Itoa(s.lim().MinDataRate) + " bytes a second"}
}

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
