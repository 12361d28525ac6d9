package smtpd

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/auth/dovecot"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
)

// SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.
// Both carry the password in the clear, so they are offered and accepted
// only under TLS (RFC 8314 §3, RFC 4954 §4). A Policy that implements
// AuthPolicy (the pipeline's auth hook) is asked first; when it continues,
// the built-in user database or Dovecot ([auth] dovecot_socket) decides.

var _ smtp.AuthSession = (*session)(nil)

// authOffered reports whether this listener offers AUTH once under TLS:
// always on the submission kinds, on "smtp" when a user database, a
// Dovecot or an auth hook is configured and the listener's auth is not
// false.
func (s *session) authOffered() bool {
	if s.info.Kind == config.KindSMTP && s.conn.l.noAuth.Load() {
		return false
	}
	if s.info.Kind != config.KindSMTP || s.srv.users() != nil || s.srv.auth.Load().dovecot != nil {
		return true
	}
	_, ok := s.srv.authPolicy(s.info.Listener)
	return ok
}

// AuthMechanisms is the AUTH capability of EHLO: empty in the clear.
func (s *session) AuthMechanisms() []string {
	s.mu.Lock()
	offer := s.info.TLS && s.info.AuthUser == "" && s.authOffered()
	s.mu.Unlock()
	if !offer {
		return nil
	}
	if d := s.srv.auth.Load().dovecot; d != nil {
		mechs := dovecotMechanisms(d)
		if d.Cached() == nil {
			s.srv.probeDovecot(d) // for the next EHLO; this one does not wait
		}
		return mechs
	}
	return []string{sasl.Plain, sasl.Login}
}

// dovecotMechanisms are those of PLAIN and LOGIN that Dovecot announced at
// its last handshake. Before any (Dovecot down, or not answering yet) both
// are offered, so that a client's AUTH is answered 454 4.7.0, a temporary
// failure it retries, rather than finding AUTH gone; it never waits for
// Dovecot, which learns them in the background (Server.probeDovecot).
func dovecotMechanisms(d *dovecot.Client) []string {
	mechs := d.Cached()
	if mechs == nil {
		return []string{sasl.Plain, sasl.Login}
	}
	var out []string
	for _, m := range []string{sasl.Plain, sasl.Login} {
		if slices.Contains(mechs, m) {
			out = append(out, m)
		}
	}
	return out
}

// Auth starts an AUTH exchange for mech; go-smtp runs it.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if r := s.authAllowed(); r != nil {
		return nil, s.refuse("auth", r)
	}
	if ip := s.info.Client.Addr(); s.srv.authFails.locked(s.srv.clientKey(ip), s.srv.clock()) {
		return nil, s.authLocked(mech, ip)
	}
	if d := s.srv.auth.Load().dovecot; d != nil && !slices.Contains(dovecotMechanisms(d), mech) {
		return nil, s.refuse("auth", authBadMech.With(mechanismReason(mech)))
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, password string) error {
			if user == "" || password == "" {
				return errEmptyCredential
			}
			// RFC 4616 §2: we act for no one else.
			if identity != "" && identity != user {
				return s.authFailed(mech, user, authInvalid.With("authorization identity "+identity+" differs from "+user), false)
			}
			return s.authenticate(mech, user, password)
		}), nil
	case sasl.Login:
		return &loginServer{auth: func(user, password string) error {
			return s.authenticate(mech, user, password)
		}}, nil
	}
	return nil, s.refuse("auth", authBadMech.With(mechanismReason(mech)))
}

// authAllowed refuses AUTH where it is not allowed now.
func (s *session) authAllowed() *reply.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.info.AuthUser != "":
		// By XCLIENT's LOGIN (go-smtp refuses a second AUTH itself).
		return &authAlready
	case !s.authOffered():
		return &authUnavailable
	case !s.info.TLS:
		return &authNeedsTLS
	case s.tx != nil:
		return &authInTxn
	}
	return nil
}

// authLocked refuses an AUTH from an address that reached
// auth_failures_per_ip, whatever its credentials; it is counted as an
// attempt, as the guesses a locked-out client goes on sending are what an
// alert on brute force wants to see.
func (s *session) authLocked(mech string, ip netip.Addr) error {
	s.srv.metrics.AuthAttempt(s.info.Listener, authMechLabel(mech), metrics.AuthLocked)
	return s.refuse("auth", authLockedOut.With("auth_failures_per_ip reached by "+ip.String()))
}

// authMechLabel is mech as the metrics' mechanism label: one Sluice
// offers, else "other", since a client may name any mechanism, or send
// its credentials in its place.
func authMechLabel(mech string) string {
	if mech == sasl.Plain || mech == sasl.Login {
		return mech
	}
	return metrics.Other
}

// authenticate checks the credentials: the AuthPolicy first, then the
// user database. The attempt holds its place in auth_failures_per_ip from
// before the check to its outcome (authFailures.begin), so that guesses
// sent at once on parallel connections are limited as guesses sent one
// after another are.
func (s *session) authenticate(mech, user, password string) error {
	ip := s.info.Client.Addr()
	key := s.srv.clientKey(ip) // what auth_failures_per_ip counts
	if !s.srv.authFails.begin(key, s.srv.clock) {
		return s.authLocked(mech, ip)
	}
	authed, r, counts := s.checkReserved(key, mech, user, password)
	if r != nil {
		return s.authFailed(mech, user, r, counts)
	}
	return s.authSucceeded(mech, authed)
}

// checkReserved is checkCredentials for an attempt begin has reserved: it
// ends the reservation, counting a failed password, even when the auth hook
// panics (go-smtp recovers it), which would otherwise hold the place and
// leave the address's next attempts waiting in begin for good.
func (s *session) checkReserved(ip netip.Addr, mech, user, password string) (authed string, r *reply.Reply, counts bool) {
	defer func() { s.srv.authFails.end(ip, s.srv.clock(), r != nil && counts) }()
	return s.checkCredentials(mech, user, password)
}

// checkCredentials returns the authenticated user's name (user, or the
// one Dovecot returns) and a nil reply, else the refusal and whether it
// counts as a failed password.
func (s *session) checkCredentials(mech, user, password string) (authed string, r *reply.Reply, counts bool) {
	if user == "" {
		return "", authInvalid.With("empty user name"), true
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
			return user, nil, false
		case AuthRefuse:
			r := v.Reply
			if r == nil {
				r = authInvalid.With("refused by the auth hook")
			}
			return "", r, r.Permanent()
		}
	}
	if d := s.srv.auth.Load().dovecot; d != nil {
		return s.checkDovecot(d, mech, user, password)
	}
	users := s.srv.users()
	if users == nil {
		return "", authInvalid.With("no user database"), true
	}
	if !users.Verify(user, password) {
		return "", authInvalid.With("bad user or password"), true
	}
	return user, nil, false
}

func (s *session) authSucceeded(mech, user string) error {
	s.mu.Lock()
	s.info.AuthUser, s.info.AuthMech = user, mech
	s.mu.Unlock()
	s.srv.metrics.AuthAttempt(s.info.Listener, authMechLabel(mech), metrics.AuthSuccess)
	s.srv.log.Info("authenticated", append(append([]any{"listener", s.info.Listener}, clientAttrs(&s.info)...),
		"helo", s.info.Helo, "user", user, "mech", mech)...)
	return nil
}

// authFailed answers a refused AUTH. A failed password (counts, already
// recorded for auth_failures_per_ip by authenticate) is answered only
// after auth_failure_delay, to slow down guessing. The metric takes r as
// decided, before soft_bounce: a wrong password is a failure either way.
func (s *session) authFailed(mech, user string, r *reply.Reply, counts bool) error {
	result := metrics.AuthFailure
	if !r.Permanent() {
		result = metrics.AuthTempfail
	}
	s.srv.metrics.AuthAttempt(s.info.Listener, authMechLabel(mech), result)
	if counts {
		s.srv.sleep(s.srv.ctx, s.srv.lim().AuthFailureDelay.Duration)
	}
	sent, soft := s.srv.softLogged(r)
	s.srv.log.Info("authentication failed", append(append(append([]any{"listener", s.info.Listener}, clientAttrs(&s.info)...),
		"helo", s.info.Helo, "user", user, "reply", sent.Error()), soft...)...)
	return s.countRefusal("auth", r)
}

// errEmptyCredential refuses an empty user name or password as a malformed
// response: RFC 4616 §2 has PLAIN's authcid and passwd "1*SAFE", and a
// LOGIN step with nothing in it is no credential either. Sluice's go-smtp
// answers a response the mechanism cannot parse with 501 5.5.2 (RFC 4954
// §4) and counts it towards max_errors; as it carries no password to
// guess, it is neither delayed nor counted towards auth_failures_per_ip,
// so that a client sending empty responses cannot lock its address out
// (and costs no password hash).
var errEmptyCredential = fmt.Errorf("%w: empty user name or password", sasl.ErrUnexpectedClientResponse)

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
		fallthrough // the initial response is the user name
	case 1:
		if len(response) == 0 {
			return nil, false, errEmptyCredential
		}
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		if len(response) == 0 {
			return nil, false, errEmptyCredential
		}
		l.step = 3
		return nil, true, l.auth(l.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

var _ sasl.Server = (*loginServer)(nil)
