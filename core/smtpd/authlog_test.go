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
	// line is no command at all, not echoed.
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
	d.cmd("AUTH LOGIN", "503 5.5.1 AUTH not available here")
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

// AUTH with its credentials and no mechanism ("AUTH dXNlcjpwYXNz") names
// a mechanism that is the credentials: the refusal's log line says which
// mechanism was asked for only when it is one SASL knows.
func TestAuthUnknownMechanismNotLogged(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	blob := b64("alice:s3cret") // a SASL name, as far as its syntax goes
	d.cmd("AUTH "+blob, "504 5.5.4 Unrecognized authentication type")
	d.cmd("AUTH CRAM-MD5", "504 5.5.4 Unrecognized authentication type")
	d.cmd("QUIT", "221 2.0.0 Bye")
	d.expectClosed()
	logs := h.logs.String()
	if strings.Contains(strings.ToUpper(logs), strings.ToUpper(blob)) {
		t.Errorf("the log holds the credentials %q:\n%s", blob, logs)
	}
	if !strings.Contains(logs, "(mechanism CRAM-MD5)") {
		t.Errorf("the refused CRAM-MD5 is not named:\n%s", logs)
	}
}
