package smtpd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// SetAuth (a reload) reads [auth] senders and senders_file again: a user
// given a new address may send as it at once, in a session already
// authenticated too, and one taken away is refused. A senders_file that
// does not load leaves the running map as it was.
func TestSetAuthReadsSendersAgain(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users), func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"bob@example.org"}}
	})
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	d.cmd("MAIL FROM:<sales@example.org>", "553 5.7.1 Sender address not owned by the authenticated user")

	file := filepath.Join(t.TempDir(), "senders")
	if err := os.WriteFile(file, []byte("bob: sales@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next := *h.cfg
	next.Auth.Senders = nil
	next.Auth.SendersFile = file
	if err := h.srv.SetAuth(&next); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<sales@example.org>", "250 2.0.0 Roger, accepting mail from <sales@example.org>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<bob@example.org>", "553 5.7.1 Sender address not owned by the authenticated user")

	bad := next
	bad.Auth.SendersFile = filepath.Join(t.TempDir(), "missing")
	if err := h.srv.SetAuth(&bad); err == nil || !strings.Contains(err.Error(), "senders_file") {
		t.Fatalf("SetAuth with a missing senders_file: %v, want a senders_file error", err)
	}
	d.cmd("MAIL FROM:<sales@example.org>", "250 2.0.0 Roger, accepting mail from <sales@example.org>")
}
