package smtpd

import (
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
)

// A line that is no SMTP command at all — an HTTP request (CONNECT, GET,
// POST: Postfix's smtpd_forbidden_commands) or a header field
// ("Subject: …") — ends the session at once, as Postfix's smtpd ends
// it. The first is a web client pointed at the SMTP port, a browser or a
// server fetching a URL an attacker chose, whose request may carry SMTP
// commands in its headers or body (cross-protocol request forgery); the
// second is a message sent as commands, by a client that wrote its DATA
// and its content without waiting for a 354 it never got (DATA refused,
// "554 5.5.1 No valid recipients"): every further line of the message
// would be run as a command, its own "MAIL FROM:" and "RCPT TO:" lines
// included. Answered as unknown commands, both went on to max_errors.
// go-smtp tells such lines from unknown commands (NonSMTPCommand).

// nonSMTP is Postfix's reply to such a line, which its users and log
// parsers know; 221, "closing transmission channel" (RFC 5321 §4.2.3),
// the channel closes after it.
var nonSMTP = reply.Reply{Code: 221, Enhanced: [3]int{2, 7, 0}, Text: "Error: I can break rules, too. Goodbye."}

// nonSMTPShown is the most of the line the log shows, as Postfix's
// "non-SMTP command from" warning shows 100 characters.
const nonSMTPShown = 100

// nonSMTPCommand is go-smtp's NonSMTPCommand: it logs the line, notes
// the close as a protocol one, and answers nonSMTP.
func (s *Server) nonSMTPCommand(sc *smtp.Conn, line string) *smtp.SMTPError {
	c := connOf(sc)
	if c == nil {
		return nil
	}
	attrs := append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...)
	if h := sc.Hostname(); h != "" {
		attrs = append(attrs, "helo", h)
	}
	// The handler quotes the input, its control bytes escaped.
	attrs = append(attrs, "input", line[:min(len(line), nonSMTPShown)], "reply", nonSMTP.String())
	s.log.Warn("non-SMTP command", attrs...)
	c.closeAs(metrics.CloseProtocol)
	return toSMTP(&nonSMTP).(*smtp.SMTPError)
}
