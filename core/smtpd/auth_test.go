package smtpd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
)

var users = map[string]string{"alice@example.org": "correct horse", "bob": "battery staple"}

// RFC 8314 §3, RFC 4954 §4: no AUTH in the clear, neither advertised nor
// accepted; after STARTTLS it is offered.
func TestAuthNotInPlaintext(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withUsers(t, users))
	d := h.dial()
	caps := d.ehloCaps()
	for _, c := range caps {
		if strings.HasPrefix(c, "AUTH") {
			t.Fatalf("AUTH advertised in the clear: %q", caps)
		}
	}
	d.authPlain("bob", "battery staple", "538 5.7.11 Encryption required for requested authentication mechanism")
	d.cmd("AUTH LOGIN", "538 5.7.11 Encryption required for requested authentication mechanism")

	d = h.dialTLS("mx", clientTLS)
	if caps := d.ehloCaps(); !slices.Contains(caps, "AUTH PLAIN LOGIN") {
		t.Fatalf("AUTH not advertised under TLS: %q", caps)
	}
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	// RFC 4954 §4: once authenticated, no second AUTH.
	d.authPlain("bob", "battery staple", "503 5.5.1 Already authenticated")
}

// Kind submission: STARTTLS, then AUTH, then MAIL (RFC 6409 §4.3).
func TestSubmissionRequiresAuth(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users))
	d := dialConn(t, h.addr("sub"))
	d.expect("220 mx.test ESMTP")
	d.ehlo()
	d.cmd("MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required")

	d = h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.cmd("MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required")
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	// An authenticated user may relay (RFC 6409 §5).
	d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "250 2.0.0 I'll make sure <x@elsewhere.example> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nhi\r\n.\r\n")
	id := d.queued()
	m, body := h.only()
	if m.Listener != "sub" || !strings.Contains(string(body), "with ESMTPSA id "+id) {
		t.Errorf("listener %q, body:\n%s", m.Listener, body)
	}
}

func TestAuthLogin(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.cmd("AUTH LOGIN", "334 "+b64("Username:"))
	d.cmd(b64("bob"), "334 "+b64("Password:"))
	d.cmd(b64("wrong"), "535 5.7.8 Authentication credentials invalid")
	// With the user name as initial response.
	d.cmd("AUTH LOGIN "+b64("bob"), "334 "+b64("Password:"))
	d.cmd(b64("battery staple"), "235 2.7.0 Authentication succeeded")
}

func TestAuthRefusals(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.cmd("AUTH CRAM-MD5", "504 5.5.4 Unrecognized authentication type")
	// RFC 4954 §4: a client may cancel the exchange with "*".
	d.cmd("AUTH PLAIN", "334 ")
	d.cmd("*", "501 5.7.0 Negotiation cancelled")
	// RFC 4616 §2: we do not act on behalf of another identity.
	d.cmd("AUTH PLAIN "+plainResp("alice@example.org", "bob", "battery staple"), "535 5.7.8 Authentication credentials invalid")
	d.authPlain("nobody", "battery staple", "535 5.7.8 Authentication credentials invalid")
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
}

func TestAuthNotDuringTransaction(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withUsers(t, users))
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.authPlain("bob", "battery staple", "503 5.5.1 AUTH not permitted during a mail transaction")
}

// A brute-force series: each failure is delayed; at auth_failures_per_ip
// the address is locked out with 454 for auth_lockout, even with the right
// password and from a new connection; then it may try again.
func TestAuthBruteForceLockout(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	clock := newFakeClock()
	rec := &sleepRecorder{}
	h := start(t, sub, withClock(clock), func(o *Options) { o.Sleep = rec.sleep }, withUsers(t, users),
		withLimits(func(l *config.Limits) {
			l.AuthFailuresPerIP = 3
			l.AuthLockout.Duration = 10 * time.Minute
			l.AuthFailureDelay.Duration = 2 * time.Second
		}))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	for i := range 3 {
		d.authPlain("bob", "guess"+string(rune('0'+i)), "535 5.7.8 Authentication credentials invalid")
	}
	if rec.count() != 3 || rec.sleeps[0] != 2*time.Second {
		t.Errorf("delays %v, want 3 of 2s", rec.sleeps)
	}
	d.authPlain("bob", "battery staple", "454 4.7.0 Too many failed authentication attempts, try again later")
	d2 := h.dialTLS("sub", clientTLS)
	d2.ehlo()
	d2.authPlain("bob", "battery staple", "454 4.7.0 Too many failed authentication attempts, try again later")
	clock.Advance(9 * time.Minute)
	d2.authPlain("bob", "battery staple", "454 4.7.0 Too many failed authentication attempts, try again later")
	clock.Advance(time.Minute)
	d2.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	if rec.count() != 3 {
		t.Errorf("%d delays, want only the failures delayed", rec.count())
	}
}

// Failures outside the window do not add up.
func TestAuthFailuresWindow(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	clock := newFakeClock()
	h := start(t, sub, withClock(clock), withUsers(t, users), withLimits(func(l *config.Limits) {
		l.AuthFailuresPerIP = 2
		l.AuthLockout.Duration = time.Minute
	}))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("bob", "x", "535 5.7.8 Authentication credentials invalid")
	clock.Advance(time.Minute)
	d.authPlain("bob", "y", "535 5.7.8 Authentication credentials invalid")
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	d = h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("bob", "z", "535 5.7.8 Authentication credentials invalid")
	d.authPlain("bob", "battery staple", "454 4.7.0 Too many failed authentication attempts, try again later")
}

// An authenticated user may only send as the addresses it owns: its own
// name when that is an address, and what [auth.senders] gives it.
func TestSpoofedSenderRefused(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users), func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"bob@example.org", "@bob.example"}}
	})
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	d.cmd("MAIL FROM:<alice@example.org>", "553 5.7.1 Sender address not owned by the authenticated user")
	d.cmd("MAIL FROM:<bob@example.org.evil>", "553 5.7.1 Sender address not owned by the authenticated user")
	d.cmd("MAIL FROM:<Bob@Example.org>", "250 2.0.0 Roger, accepting mail from <Bob@Example.org>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<anyone@bob.example>", "250 2.0.0 Roger, accepting mail from <anyone@bob.example>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")

	d = h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	d.cmd("MAIL FROM:<bob@example.org>", "553 5.7.1 Sender address not owned by the authenticated user")
	d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
}

// On an MX listener with AUTH, an authenticated client may relay.
func TestAuthRelayOnMX(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withUsers(t, users))
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "250 2.0.0 I'll make sure <x@elsewhere.example> gets this")
}

// authPolicy is an auth hook: it accepts "hook" with any password,
// refuses "banned" (also a tempfail for "ldapdown") and continues otherwise.
type authPolicy struct {
	AllowAll
	seen chan string
}

func (p authPolicy) Auth(_ context.Context, s *SessionInfo, mech, user string, secret []byte) AuthVerdict {
	p.seen <- mech + " " + user + " " + string(secret) + " tls=" + map[bool]string{true: "yes", false: "no"}[s.TLS]
	switch user {
	case "hook":
		return AuthVerdict{Decision: AuthAccept}
	case "banned":
		return AuthVerdict{Decision: AuthRefuse, Reply: &reply.Reply{Code: 535, Enhanced: [3]int{5, 7, 8}, Text: "Account disabled"}}
	case "ldapdown":
		return AuthVerdict{Decision: AuthRefuse, Reply: &authTempFail}
	}
	return AuthVerdict{}
}

func (p authPolicy) Mail(_ context.Context, s *SessionInfo, _ string) *reply.Reply {
	p.seen <- "mail as " + s.AuthUser + " via " + s.AuthMech
	return nil
}

func TestAuthPolicyHook(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	p := authPolicy{seen: make(chan string, 10)}
	h := start(t, sub, withUsers(t, users), func(o *Options) {
		o.Policy = p
		o.Config.Auth.Senders = map[string][]string{"hook": {"*"}}
	}, withLimits(func(l *config.Limits) { l.AuthFailuresPerIP = 2 }))
	expectSeen := func(want string) {
		t.Helper()
		if got := <-p.seen; got != want {
			t.Fatalf("hook saw %q, want %q", got, want)
		}
	}
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("banned", "pw", "535 5.7.8 Account disabled")
	expectSeen("PLAIN banned pw tls=yes")
	// A tempfail does not count towards the lockout (limit 2 here).
	d.authPlain("ldapdown", "pw", "454 4.7.0 Temporary authentication failure")
	expectSeen("PLAIN ldapdown pw tls=yes")
	// Continue: the user database decides.
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	expectSeen("PLAIN bob battery staple tls=yes")

	d = h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("hook", "anything", "235 2.7.0 Authentication succeeded")
	expectSeen("PLAIN hook anything tls=yes")
	d.cmd("MAIL FROM:<x@example.net>", "250 2.0.0 Roger, accepting mail from <x@example.net>")
	expectSeen("mail as hook via PLAIN")
}

// End to end with the built-in user file: [auth] users_file relative to
// the config, argon2id and bcrypt lines, and a change on disk taking
// effect without a restart.
func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	a, err := auth.HashArgon2id("argon pw", auth.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	u := auth.NewUsers()
	if err := u.Set("carol", a); err != nil {
		t.Fatal(err)
	}
	if err := u.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	sub, clientTLS := withSubmission(t, config.KindSubmissions)
	h := start(t, sub, func(o *Options) {
		o.Config.Source = filepath.Join(dir, "sluice.toml")
		o.Config.Auth.UsersFile = "users"
		o.Sleep = func(context.Context, time.Duration) {}
	})
	login := func(user, pass, want string) {
		t.Helper()
		d := dialTLSDirect(t, h.addr("sub"), clientTLS)
		d.ehlo()
		d.authPlain(user, pass, want)
	}
	login("carol", "argon pw", "235 2.7.0 Authentication succeeded")
	login("carol", "wrong", "535 5.7.8 Authentication credentials invalid")
	login("dave", "bcrypt pw", "535 5.7.8 Authentication credentials invalid")

	b, err := auth.HashBcrypt("bcrypt pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Set("dave", b); err != nil {
		t.Fatal(err)
	}
	u.Delete("carol")
	if err := u.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	// The mtime may not have moved within the file system's resolution;
	// make sure it did.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	login("dave", "bcrypt pw", "235 2.7.0 Authentication succeeded")
	login("carol", "argon pw", "535 5.7.8 Authentication credentials invalid")
}

// RFC 4954 §4: a response that is syntactically invalid — AUTH PLAIN
// empty ("="), or without its NUL separators — gets 501 5.5.2, not the
// temporary 454 4.7.0 that told the client to try again. It is a
// protocol error (max_errors), not a failed password: it carries none,
// so it is neither delayed nor counted towards auth_failures_per_ip,
// while a wrong password still gets 535 5.7.8 and is.
func TestAuthMalformedResponse(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	rec := &sleepRecorder{}
	h := start(t, sub, func(o *Options) { o.Sleep = rec.sleep }, withUsers(t, users),
		withLimits(func(l *config.Limits) {
			l.AuthFailuresPerIP = 2
			l.AuthFailureDelay.Duration = time.Second
			l.MaxErrors = 4
		}))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.cmd("AUTH PLAIN =", "501 5.5.2 Malformed authentication response")
	d.cmd("AUTH PLAIN "+b64("bob"), "501 5.5.2 Malformed authentication response")
	d.cmd("AUTH PLAIN", "334 ")
	d.cmd(b64("bob\x00battery staple"), "501 5.5.2 Malformed authentication response")
	d.authPlain("bob", "wrong", "535 5.7.8 Authentication credentials invalid")
	if rec.count() != 1 {
		t.Errorf("%d delays, want one: for the wrong password", rec.count())
	}
	// The fifth error of the session: max_errors counted the three 501s.
	d.authPlain("bob", "wrong", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
	// Two wrong passwords lock the address out; the 501s did not count.
	d = h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("bob", "battery staple", "454 4.7.0 Too many failed authentication attempts, try again later")
}
