package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/daemon"
)

// TestReplayThreeStages replays a message through plugin → first-party
// plugin → plugin and checks the printed trace and resulting message.
func TestReplayThreeStages(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // first-party plugins run this test binary as sluice
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[stage]]
name = "tagger"
plugin = ACTOR
[stage.config]
json = '{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Tag", "value": "tagged"}]}}}'

[[stage]]
name = "stamp"
plugin = "headers"
[stage.config]
add = [{ name = "X-Stamp", value = "sluice" }]

[[stage]]
name = "judge"
plugin = ACTOR
[stage.config]
json = '{"data": {"bad": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "bad subject"}}}'
`, "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hello\n\nhi\n")

	out := runCLI(t, "replay", "-c", cfg, msg)
	order := []string{"tagger  data", "stamp   data", "judge   data"}
	last := -1
	for _, o := range order {
		i := strings.Index(out, o)
		if i < last || i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", o, out)
		}
		last = i
	}
	for _, want := range []string{"envelope: from <alice@example.org> to <bob@example.net>", "add header X-Tag: tagged",
		"add header X-Stamp: sluice", "outcome: continue", "Subject: hello\r\nX-Tag: tagged\r\nX-Stamp: sluice\r\n\r\nhi\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}

	writeFile(t, msg, "From: alice@example.org\nSubject: bad news\n\nhi\n")
	out = runCLI(t, "replay", "-c", cfg, msg, "--to", "carol@example.net", "--json")
	var res daemon.ReplayResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Outcome != "reject" || res.Reply != "550 5.7.1 bad subject" || res.Envelope.Rcpts[0].Addr != "carol@example.net" {
		t.Fatalf("json result %+v", res)
	}
}
