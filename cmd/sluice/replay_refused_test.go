package main

import (
	"strings"
	"testing"
)

// A replayed message the pipeline refuses (or discards) is not shown as
// "the resulting message": the output says it would not be queued, and
// a message refused before DATA is not printed at all. The exit status
// is 0 whatever the outcome, as README says (runCLI fails on any other).
func TestReplayRefusedMessageIsNotQueued(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[stage]]
name = "judge"
plugin = ACTOR
[stage.config]
json = '{"data": {"bad": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "bad subject"}, "later": {"action": "tempfail", "code": 451, "enhanced": "4.7.1", "text": "not now"}, "drop": {"action": "discard"}}, "rcpt": {"nobody@example.net": {"action": "reject", "code": 550, "enhanced": "5.1.1", "text": "no such user"}}}'
`, "From: alice@example.org\nTo: bob@example.net\nSubject: hello\n\nhi\n")

	out := runCLI(t, "replay", "-c", cfg, msg)
	if !strings.Contains(out, "outcome: continue\n--- resulting message ---\n") || !strings.Contains(out, "Subject: hello\r\n") {
		t.Fatalf("accepted message:\n%s", out)
	}

	for _, tc := range []struct {
		subject, to, want string
		printed           bool // the message's text follows
	}{
		{"bad news", "bob@example.net", "outcome: reject at data: 550 5.7.1 bad subject\n--- message refused (reject): it would not be queued; as the stages saw it ---\n", true},
		{"later please", "bob@example.net", "outcome: tempfail at data: 451 4.7.1 not now\n--- message refused (tempfail): it would not be queued; as the stages saw it ---\n", true},
		{"drop it", "bob@example.net", "outcome: discard by stage judge\n--- message discarded (answered 250): it would not be queued; as the stages saw it ---\n", true},
		{"hello", "nobody@example.net", "outcome: reject at rcpt: no recipient accepted: nobody@example.net: 550 5.1.1 no such user\n--- message refused at rcpt: it would not be received or queued ---\n", false},
	} {
		writeFile(t, msg, "From: alice@example.org\nSubject: "+tc.subject+"\n\nhi\n")
		out := runCLI(t, "replay", "-c", cfg, msg, "--to", tc.to)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s to %s: missing %q in:\n%s", tc.subject, tc.to, tc.want, out)
		}
		if strings.Contains(out, "resulting message") {
			t.Errorf("%s to %s: refused message shown as the resulting one:\n%s", tc.subject, tc.to, out)
		}
		if got := strings.Contains(out, "Subject: "+tc.subject+"\r\n"); got != tc.printed {
			t.Errorf("%s to %s: message printed %v, want %v:\n%s", tc.subject, tc.to, got, tc.printed, out)
		}
	}
}
