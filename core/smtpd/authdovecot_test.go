package smtpd

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// A Dovecot that is down: AUTH is still offered (PLAIN and LOGIN, as no
// handshake told otherwise) and answered 454 4.7.0 (RFC 4954 §6), logged,
// neither delayed nor counted towards auth_failures_per_ip, since the
// client's password may well be right. The working Dovecot cases (535 for
// a wrong password, user= as the authenticated name) are run against a
// real Dovecot in tests/interop/dovecot_auth_test.go.
func TestAuthDovecotDown(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	rec := &sleepRecorder{}
	socket := filepath.Join(t.TempDir(), "auth-client") // nobody listens
	h := start(t, sub, withLimits(func(l *config.Limits) { l.AuthFailuresPerIP = 1 }), func(o *Options) {
		o.Config.Auth.DovecotSocket = socket
		o.Sleep = rec.sleep
	})
	d := h.dialTLS("sub", clientTLS)
	caps := d.ehloCaps()
	if !strings.Contains(strings.Join(caps, "\n"), "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO %q, want AUTH PLAIN LOGIN", caps)
	}
	for range 3 { // past auth_failures_per_ip = 1: not counted
		d.authPlain("alice", "secret", "454 4.7.0 Temporary authentication failure")
	}
	d.cmd("AUTH LOGIN "+b64("alice"), "334 "+b64("Password:"))
	d.cmd(b64("secret"), "454 4.7.0 Temporary authentication failure")
	if n := rec.count(); n != 0 {
		t.Errorf("%d failure delays, want none", n)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "dovecot auth unavailable") || !strings.Contains(logs, socket) {
		t.Errorf("no warning naming the socket in the log:\n%s", logs)
	}
}

// A reload that sets dovecot_socket makes Dovecot decide the next AUTH
// (here one that is down: 454, where no user database gave 535); a reload
// keeping the same socket keeps its client, and so the mechanisms it
// learnt.
func TestSetAuthDovecotSocket(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, func(o *Options) { o.Sleep = (&sleepRecorder{}).sleep })
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("alice", "secret", "535 5.7.8 Authentication credentials invalid")

	next := *h.cfg
	next.Auth.DovecotSocket = filepath.Join(t.TempDir(), "auth-client")
	if err := h.srv.SetAuth(&next); err != nil {
		t.Fatal(err)
	}
	first := h.srv.auth.Load().dovecot
	d.authPlain("alice", "secret", "454 4.7.0 Temporary authentication failure")
	if err := h.srv.SetAuth(&next); err != nil {
		t.Fatal(err)
	}
	if h.srv.auth.Load().dovecot != first {
		t.Error("a reload with the same dovecot_socket replaced its client")
	}
}
