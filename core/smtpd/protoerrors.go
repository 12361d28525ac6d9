package smtpd

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
)

// ProtocolError counts an error go-smtp answers itself — an unknown or
// malformed command, one out of sequence, a bad argument — towards
// max_errors, with the refusals countRefusal counts: a client that sends
// nothing but garbage is dropped as one refused again and again is (as
// Postfix's smtpd_hard_error_limit counts both). Past the limit go-smtp
// answers tooManyErrors in place of the error and closes the connection.
// Errors before HELO/EHLO, when there is no session yet, count the same
// way (connErrors).
func (s *session) ProtocolError(code int, ec smtp.EnhancedCode, msg string) *smtp.SMTPError {
	if !s.conn.pastErrorLimit() {
		// A refusal of go-smtp's own (a malformed parameter, SIZE over
		// the limit at MAIL, an unknown command) is logged as every
		// refused command is: it used to leave no line until max_errors.
		s.logReject("protocol", &reply.Reply{Code: code, Enhanced: [3]int{ec[0], ec[1], ec[2]}, Text: loggedText(msg)})
		return nil
	}
	s.logReject("protocol", tooManyErrors.With(limitReason(code, ec, msg)))
	s.conn.closeAs(metrics.CloseTooManyErrors)
	return toSMTP(&tooManyErrors).(*smtp.SMTPError)
}

// connErrors is go-smtp's ConnErrorCounter: ProtocolError for a client
// that has not said HELO/EHLO yet, so garbage sent before it is dropped
// at max_errors too, not at go-smtp's fixed limit.
func (s *Server) connErrors(sc *smtp.Conn, code int, ec smtp.EnhancedCode, msg string) *smtp.SMTPError {
	c := connOf(sc)
	if c == nil || !c.pastErrorLimit() {
		return nil
	}
	s.log.Info("rejected", "stage", "protocol", "listener", c.info.Listener,
		"client", c.info.Client.Addr().String(), "reply", tooManyErrors.With(limitReason(code, ec, msg)).Error())
	c.closeAs(metrics.CloseTooManyErrors)
	return toSMTP(&tooManyErrors).(*smtp.SMTPError)
}

// junkCommand is go-smtp's JunkCommand: it counts the commands that move
// no transaction forward (NOOP, RSET, VRFY, HELP, ...) since the
// connection's last queued message, and past max_junk_commands counts
// each more towards max_errors, as Postfix's smtpd_junk_command_limit
// does. Without it, a client sending NOOP every few minutes held a
// connection (and a max_connections slot) for as long as it liked: the
// command timeout bounds only the wait for one command.
func (s *Server) junkCommand(sc *smtp.Conn, cmd string) *smtp.SMTPError {
	c := connOf(sc)
	if c == nil || !c.junk() {
		return nil
	}
	s.log.Info("rejected", "stage", "protocol", "listener", c.info.Listener,
		"client", c.info.Client.Addr().String(), "reply", tooManyErrors.With("max_junk_commands, then max_errors, at "+cmd).Error())
	c.closeAs(metrics.CloseTooManyErrors)
	return toSMTP(&tooManyErrors).(*smtp.SMTPError)
}

// junk counts one command that moved no transaction forward and reports
// whether it ends the connection: past max_junk_commands (negative: no
// limit) each counts towards max_errors.
func (c *conn) junk() bool {
	max := c.srv.lim().MaxJunkCommands
	return max >= 0 && c.countJunk() > max && c.pastErrorLimit()
}

// pastErrorLimit counts one error of the connection and reports whether
// it went past max_errors (negative: no limit).
func (c *conn) pastErrorLimit() bool {
	max := c.srv.lim().MaxErrors
	return max >= 0 && c.countError() > max
}

func limitReason(code int, ec smtp.EnhancedCode, msg string) string {
	return fmt.Sprintf("max_errors, at %d %d.%d.%d %s", code, ec[0], ec[1], ec[2], loggedText(msg))
}

// loggedText is the text of go-smtp's reply as the log has it: without
// the verb of an unknown command, which the client is shown. A client
// that goes on with an AUTH exchange the server refused sends its base64
// user name and password as commands (RFC 4954 §4 responses), and a
// password does not belong in the log, even uppercased.
func loggedText(msg string) string {
	if rest, ok := strings.CutPrefix(msg, unknownVerbPrefix); ok && strings.HasSuffix(rest, unknownVerbSuffix) {
		return unknownVerbPrefix + strings.TrimPrefix(unknownVerbSuffix, " ")
	}
	return msg
}

// go-smtp's reply to an unknown command is unknownVerbPrefix, the verb,
// unknownVerbSuffix (TestUnknownVerbNotLogged pins it).
const unknownVerbPrefix, unknownVerbSuffix = "Syntax errors, ", " command unrecognized"

var _ smtp.ErrorCounter = (*session)(nil)
