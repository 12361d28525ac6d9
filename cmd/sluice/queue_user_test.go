package main

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// queue show names the user a message was submitted by (AUTH), the
// account to look at when an application's password has leaked; mail
// from a session that did not authenticate has no such line.
func TestQueueShowAuthUser(t *testing.T) {
	url, ids, q, _ := adminServer(t, 2)
	if _, err := q.Modify(ids[0], func(m *envelope.Message) error {
		m.AuthUser = "webapp\x1b[2J"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "queue", "show", ids[0], "--admin", url)
	if !strings.Contains(out, "\nuser:         webapp\\x1b[2J\n") {
		t.Errorf("queue show: want the user, escaped:\n%s", out)
	}
	if out := runCLI(t, "queue", "show", ids[1], "--admin", url); strings.Contains(out, "user:") {
		t.Errorf("queue show of mail without AUTH names a user:\n%s", out)
	}
}
