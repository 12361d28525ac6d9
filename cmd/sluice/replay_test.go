package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/daemon"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestReplayThreeStages replays a message through plugin → first-party
// plugin → plugin and checks the printed trace and resulting message.
func TestReplayThreeStages(t *testing.T) {
	actor := testlib.Build(t, "./internal/testplugins/actor")
	t.Setenv("SLUICE_TEST_MAIN", "1") // first-party plugins run this test binary as sluice
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
[[listener]]
listen = "127.0.0.1:0"

[[stage]]
name = "tagger"
plugin = %[1]q
[stage.config]
json = '{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Tag", "value": "tagged"}]}}}'

[[stage]]
name = "stamp"
plugin = "headers"
[stage.config]
add = [{ name = "X-Stamp", value = "sluice" }]

[[stage]]
name = "judge"
plugin = %[1]q
[stage.config]
json = '{"data": {"bad": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "bad subject"}}}'
`, actor)), 0o600)
	msg := filepath.Join(dir, "msg.eml")
	os.WriteFile(msg, []byte("From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hello\n\nhi\n"), 0o600)

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

	os.WriteFile(msg, []byte("From: alice@example.org\nSubject: bad news\n\nhi\n"), 0o600)
	out = runCLI(t, "replay", "-c", cfg, msg, "--to", "carol@example.net", "--json")
	var res daemon.ReplayResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Outcome != "reject" || res.Reply != "550 5.7.1 bad subject" || res.Envelope.Rcpts[0].Addr != "carol@example.net" {
		t.Fatalf("json result %+v", res)
	}
}
