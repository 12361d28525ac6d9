package main

import (
	"strings"
	"testing"
)

// sluice replay lists the notes each stage set in its trace, and a later
// stage sees them, as in the daemon.
func TestReplayPrintsNotes(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[stage]]
name = "score"
plugin = ACTOR
[stage.config]
json = '{"connect": {"edits": [{"op": "set_note", "name": "trusted", "value": "no"}]}, "rcpt": {"*": {"edits": [{"op": "set_note", "name": "score", "value": "5"}]}}}'

[[stage]]
name = "decide"
plugin = ACTOR
[stage.config]
json = '{"data": {"*": {"edits": [{"op": "echo", "name": "X-Notes", "value": "notes"}]}}}'
`, "From: alice@example.org\nTo: bob@example.net\nSubject: hello\n\nhi\n")
	out := runCLI(t, "replay", "-c", cfg, msg)
	for _, want := range []string{"note trusted=no", "note score=5", `X-Notes: session=map["trusted":"no"] txn=map["score":"5"]`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
