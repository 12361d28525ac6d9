package smtpd

import (
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
)

// SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.
// Both carry the password in the clear, so they are offered and accepted
// only under TLS (RFC 8314 §3, RFC 4954 §4). A Policy that implements
// AuthPolicy (the pipeline's auth hook) is asked first; when it continues,
// the built-in user database decides.

var _ smtp.AuthSession = (*session)(nil)

// authOffered reports whether this listener offers AUTH once under TLS:
// always on the submission kinds, on "smtp" when a user database or an
// auth hook is configured.
func (s *session) authOffered() bool {
	if s.info.Kind != config.KindSMTP || s.srv.users != nil {
		return true
	}
	_, ok := s.srv.authPolicy()
	return ok
}

// AuthMechanisms is the AUTH capability of EHLO: empty in the clear.
func (s *session) AuthMechanisms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.info.TLS || s.info.AuthUser != "" || !s.authOffered() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts an AUTH exchange for mech; go-smtp runs it.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if r := s.authAllowed(); r != nil {
		return nil, s.refuse("auth", r)
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, password string) error {
			// RFC 4616 §2: we act for no one else.
			if identity != "" && identity != user {
				return s.authFailed(user, authInvalid.With("authorization identity "+identity+" differs from "+user), false)
			}
			return s.authenticate(mech, user, password)
		}), nil
	case sasl.Login:
		return &loginServer{auth: func(user, password string) error {
			return s.authenticate(mech, user, password)
		}}, nil
	}
	return nil, s.refuse("auth", authBadMech.With("mechanism "+mech))
}

// authAllowed refuses AUTH where it is not allowed now.
func (s *session) authAllowed() *reply.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.authOffered():
		return &authUnavailable
	case !s.info.TLS:
		return &authNeedsTLS
	case s.tx != nil:
		return &authInTxn
	case s.srv.authFails.locked(s.info.Client.Addr(), s.srv.clock()):
		return authLockedOut.With("auth_failures_per_ip reached by " + s.info.Client.Addr().String())
	}
	return nil
}

// authenticate checks the credentials: the AuthPolicy first, then the
// user database.
func (s *session) authenticate(mech, user, password string) error {
	if user == "" {
		return s.authFailed(user, authInvalid.With("empty user name"), true)
	}
	// Asked even when its AuthSwitch is off now: a session keeps the
	// pipeline it began with, and the policy knows which that is.
	if ap, ok := s.srv.policy.(AuthPolicy); ok {
		s.mu.Lock()
		info := s.info
		s.mu.Unlock()
		v := ap.Auth(s.srv.ctx, &info, mech, user, []byte(password))
		switch v.Decision {
		case AuthAccept:
			return s.authSucceeded(mech, user)
		case AuthRefuse:
			r := v.Reply
			if r == nil {
				r = authInvalid.With("refused by the auth hook")
			}
			return s.authFailed(user, r, r.Permanent())
		}
	}
	if s.srv.users == nil {
		return s.authFailed(user, authInvalid.With("no user database"), true)
	}
	if !s.srv.users.Verify(user, password) {
		return s.authFailed(user, authInvalid.With("bad user or password"), true)
	}
	return s.authSucceeded(mech, user)
}

func (s *session) authSucceeded(mech, user string) error {
	s.mu.Lock()
	s.info.AuthUser, s.info.AuthMech = user, mech
	s.mu.Unlock()
	s.srv.log.Info("authenticated", "listener", s.info.Listener, "client", s.info.Client.Addr().String(),
		"user", user, "mech", mech)
	return nil
}

// authFailed answers a refused AUTH. A failed password (counts) is recorded
// for auth_failures_per_ip and answered only after auth_failure_delay, to
// slow down guessing.
func (s *session) authFailed(user string, r *reply.Reply, counts bool) error {
	if counts {
		s.srv.authFails.fail(s.info.Client.Addr(), s.srv.clock())
		s.srv.sleep(s.srv.ctx, s.srv.cfg.Limits.AuthFailureDelay.Duration)
	}
	s.srv.log.Info("authentication failed", "listener", s.info.Listener, "client", s.info.Client.Addr().String(),
		"user", user, "reply", r.Error())
	return s.countRefusal("auth", r)
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): it asks for the user name, then the
// password; an initial response is the user name.
type loginServer struct {
	step int
	user string
	auth func(user, password string) error
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.auth(l.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

var _ sasl.Server = (*loginServer)(nil)
