package smtpd

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// ProtocolError counts an error go-smtp answers itself — an unknown or
// malformed command, one out of sequence, a bad argument — towards
// max_errors, with the refusals countRefusal counts: a client that sends
// nothing but garbage is dropped as one refused again and again is (as
// Postfix's smtpd_hard_error_limit counts both). Past the limit go-smtp
// answers tooManyErrors in place of the error and closes the connection.
// Errors before HELO/EHLO, when there is no session yet, stay under
// go-smtp's own limit (third_party/go-smtp/SLUICE.md).
func (s *session) ProtocolError(code int, ec smtp.EnhancedCode, msg string) *smtp.SMTPError {
	if max := s.srv.cfg.Limits.MaxErrors; max < 0 || s.conn.countError() <= max {
		return nil
	}
	s.logReject("protocol", tooManyErrors.With(fmt.Sprintf("max_errors, at %d %d.%d.%d %s", code, ec[0], ec[1], ec[2], msg)))
	return toSMTP(&tooManyErrors).(*smtp.SMTPError)
}

var _ smtp.ErrorCounter = (*session)(nil)
