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

// TestReplayEnvelopeDedupesRecipients: a recipient a stage adds at each
// of two rcpt hooks is delivered once (the queue keeps one of a case-
// insensitive address), so replay prints it once too; it printed it twice.
func TestReplayEnvelopeDedupesRecipients(t *testing.T) {
	actor := testlib.Build(t, "./internal/testplugins/actor")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
[[listener]]
listen = "127.0.0.1:0"
[[stage]]
name = "copy"
plugin = %q
[stage.config]
json = '''{"rcpt": {"a@example.net": {"edits": [{"op": "add_recipient", "addr": "archive@example.net"}]},
                     "b@example.net": {"edits": [{"op": "add_recipient", "addr": "Archive@example.net"}]}}}'''
`, actor)), 0o600)
	msg := filepath.Join(dir, "msg.eml")
	os.WriteFile(msg, []byte("From: alice@example.org\nSubject: hello\n\nhi\n"), 0o600)

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
