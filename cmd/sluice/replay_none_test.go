package main

import (
	"strings"
	"testing"
)

// A replay refused before any RCPT (here at mail) says the envelope got
// no recipient, instead of ending its envelope line at a bare "to".
func TestReplayRefusedBeforeRcpt(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[stage]]
name = "judge"
plugin = ACTOR
[stage.config]
json = '{"mail": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "no mail from you"}}'
`, "From: alice@example.org\nSubject: hello\n\nhi\n")

	out := runCLI(t, "replay", "-c", cfg, msg, "--to", "bob@example.net")
	for _, want := range []string{"envelope: from <alice@example.org> to (none)\n", "outcome: reject at mail: 550 5.7.1 no mail from you"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
