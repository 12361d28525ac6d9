package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// A SASL response sent as a command — by a client that goes on with its
// AUTH exchange after the AUTH was refused — is an unknown command whose
// verb is the base64 of a user name or password. Its refusal is logged,
// but not the verb: the log would hold the password (uppercased by the
// parser, which hides little of it). The client still sees its verb.
func TestUnknownVerbNotLogged(t *testing.T) {
	// Base64 without '=', '+' or '/' parses as a verb; with them the
	// line is a "Bad command", not echoed.
	const plainPass, loginPass = "s3cret-Pa55wrd", "hunter2hunter2x"
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 2 }))
	// Before EHLO, refusals are logged only at max_errors, and with the
	// error that reached it.
	d := h.dial()
	d.cmd("AUTH PLAIN", "503 5.5.1 Please introduce yourself first.")
	d.cmd("XYZZY", "500 5.5.2 Syntax errors, XYZZY command unrecognized")
	d.cmd(plainResp("", "alice", plainPass), "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
	// After EHLO, each is logged. Plain SMTP on mx offers no AUTH.
	d = h.dial()
	d.ehlo()
	d.cmd("AUTH LOGIN", "502 5.5.1 AUTH not available here")
	d.cmd(b64(loginPass), "500 5.5.2 Syntax errors, "+short32(b64(loginPass))+" command unrecognized")
	d.cmd("XYZZY", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
	logs := h.logs.String()
	for _, secret := range []string{b64(loginPass), plainResp("", "alice", plainPass)} {
		if strings.Contains(strings.ToUpper(logs), strings.ToUpper(secret)) {
			t.Errorf("the log holds the SASL response %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, "500 5.5.2 Syntax errors, command unrecognized"); n != 3 {
		t.Errorf("%d unknown commands logged, want 3:\n%s", n, logs)
	}
}

// short32 is the verb as go-smtp echoes it: uppercased, cut at 32.
func short32(s string) string {
	s = strings.ToUpper(s)
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
