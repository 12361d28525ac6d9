package smtpd

import (
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// An empty user name or password is a malformed response (RFC 4616 §2:
// authcid and passwd are 1*SAFE), answered 501 5.5.2 (RFC 4954 §4) like an
// empty PLAIN response: not delayed, and not counted towards
// auth_failures_per_ip. They used to get 535 5.7.8 after the failure
// delay and count as failed passwords, so three empty responses locked
// the address out for auth_lockout, the right password included.
func TestAuthEmptyCredentialsMalformed(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	rec := &sleepRecorder{}
	h := start(t, sub, func(o *Options) { o.Sleep = rec.sleep }, withUsers(t, users),
		withLimits(func(l *config.Limits) {
			l.AuthFailuresPerIP = 2
			l.AuthFailureDelay.Duration = time.Second
		}))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	const malformed = "501 5.5.2 Malformed authentication response"
	d.cmd("AUTH PLAIN "+plainResp("", "", "battery staple"), malformed)
	d.cmd("AUTH PLAIN "+plainResp("", "bob", ""), malformed)
	d.cmd("AUTH PLAIN "+plainResp("", "", ""), malformed)
	d.cmd("AUTH LOGIN =", malformed)
	d.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	d.cmd("=", malformed)
	d.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	d.cmd("", malformed)
	d.cmd("AUTH LOGIN "+b64("bob"), "334 UGFzc3dvcmQ6")
	d.cmd("=", malformed)
	if n := rec.count(); n != 0 {
		t.Errorf("%d delays, want none: no password was tried", n)
	}
	// None counted: the right password still gets in.
	d.cmd("AUTH LOGIN "+b64("bob"), "334 UGFzc3dvcmQ6")
	d.cmd(b64("battery staple"), "235 2.7.0 Authentication succeeded")
}
