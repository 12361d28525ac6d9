package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/daemon"
)

// TestReplayEnvelopeDedupesRecipients: a recipient a stage adds at each
// of two rcpt hooks is delivered once (the queue keeps one of a case-
// insensitive address), so replay prints it once too; it printed it twice.
func TestReplayEnvelopeDedupesRecipients(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `[[stage]]
name = "copy"
plugin = ACTOR
[stage.config]
json = '''{"rcpt": {"a@example.net": {"edits": [{"op": "add_recipient", "addr": "archive@example.net"}]},
                     "b@example.net": {"edits": [{"op": "add_recipient", "addr": "Archive@example.net"}]}}}'''
`, "From: alice@example.org\nSubject: hello\n\nhi\n")

	out := runCLI(t, "replay", "-c", cfg, msg, "--to", "a@example.net", "--to", "b@example.net")
	if want := "envelope: from <alice@example.org> to <archive@example.net> <a@example.net> <b@example.net>\n"; !strings.Contains(out, want) {
		t.Errorf("want %q in:\n%s", want, out)
	}
	out = runCLI(t, "replay", "-c", cfg, msg, "--to", "a@example.net", "--to", "b@example.net", "--json")
	var res daemon.ReplayResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got []string
	for _, r := range res.Envelope.Rcpts {
		got = append(got, r.Addr)
	}
	if strings.Join(got, " ") != "archive@example.net a@example.net b@example.net" {
		t.Errorf("json envelope recipients %q", got)
	}
}
