package smtpd

import (
	"slices"
	"strings"
	"testing"
)

// An smtp listener with auth = false offers no AUTH under TLS, though a
// user database is configured, and refuses the command: an MX that takes
// no logins (maddy's port 25, Postfix's smtpd_sasl_auth_enable = no).
// A reload that drops the setting keeps the socket, and the next EHLO
// offers AUTH again.
func TestAuthOffListener(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	off := false
	h := start(t, tlsOpt, withUsers(t, users), func(o *Options) { o.Config.Listeners[0].Auth = &off })
	d := h.dialTLS("mx", clientTLS)
	for _, c := range d.ehloCaps() {
		if strings.HasPrefix(c, "AUTH") {
			t.Fatalf("auth = false: %q advertised", c)
		}
	}
	d.authPlain("bob", "battery staple", "503 5.5.1 AUTH not available here")
	// The MX still takes mail for its domains.
	d.cmd("MAIL FROM:<carol@remote.example>", "250 2.0.0 Roger, accepting mail from <carol@remote.example>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")

	addr := h.addr("mx")
	h.cfg.Listeners[0].Auth = nil
	ch, err := h.srv.SetListeners(h.cfg.Listeners)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Added) != 0 || len(ch.Removed) != 0 || h.addr("mx") != addr {
		t.Fatalf("reload changing auth: %+v, %s (was %s): want the listener kept", ch, h.addr("mx"), addr)
	}
	d = h.dialTLS("mx", clientTLS)
	if caps := d.ehloCaps(); !slices.Contains(caps, "AUTH PLAIN LOGIN") {
		t.Fatalf("auth left out after the reload: AUTH not advertised: %q", caps)
	}
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
}
