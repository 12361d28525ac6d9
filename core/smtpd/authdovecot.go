package smtpd

import (
	"errors"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/auth/dovecot"
	"github.com/sluice-mta/sluice/core/reply"
)

// checkDovecot has Dovecot check the credentials ([auth] dovecot_socket).
// Its FAIL is a wrong password: 535 5.7.8, counted towards
// auth_failures_per_ip. A Dovecot that cannot be asked, or that fails
// temporarily, is 454 4.7.0 (RFC 4954 §6), not counted: the client's
// password may be right.
func (s *session) checkDovecot(d *dovecot.Client, mech, user, password string) (string, *reply.Reply, bool) {
	s.mu.Lock()
	info := s.info
	s.mu.Unlock()
	authed, err := d.Authenticate(s.srv.ctx, dovecot.Request{
		Mech: mech, User: user, Password: password,
		Local: info.Local, Remote: info.Client, Secured: info.TLS,
	})
	var refused *dovecot.Refused
	switch {
	case errors.As(err, &refused) && !refused.Temp:
		return "", authInvalid.With(refused.Error()), true
	case err != nil:
		s.srv.log.Warn("dovecot auth unavailable", append(append([]any{"listener", info.Listener}, clientAttrs(&info)...),
			"user", user, "error", err.Error())...)
		return "", authTempFail.With(err.Error()), false
	}
	// The name goes into logs, Received and [auth.senders] look-ups.
	if verr := auth.ValidName(authed); verr != nil {
		s.srv.log.Warn("dovecot auth unavailable", append(append([]any{"listener", info.Listener}, clientAttrs(&info)...),
			"user", user, "error", "dovecot answered user="+authed+": "+verr.Error())...)
		return "", authTempFail.With("dovecot answered a user name Sluice cannot use"), false
	}
	return authed, nil, false
}

// probeDovecot has d learn Dovecot's mechanisms in the background (see
// dovecot.Client.Probe), as Postfix's smtpd asks at start-up: at Start,
// at a reload that names another socket, and at an EHLO while none are
// known. A Dovecot that cannot be asked is logged at warn.
func (s *Server) probeDovecot(d *dovecot.Client) {
	d.Probe(s.ctx, func(err error) {
		s.log.Warn("dovecot auth unavailable", "error", err.Error())
	})
}
