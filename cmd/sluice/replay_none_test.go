package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A replay refused before any RCPT (here at mail) says the envelope got
// no recipient, instead of ending its envelope line at a bare "to".
func TestReplayRefusedBeforeRcpt(t *testing.T) {
	actor := testlib.Build(t, "./internal/testplugins/actor")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
[[listener]]
listen = "127.0.0.1:0"

[[stage]]
name = "judge"
plugin = %q
[stage.config]
json = '{"mail": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "no mail from you"}}'
`, actor)), 0o600)
	msg := filepath.Join(dir, "msg.eml")
	os.WriteFile(msg, []byte("From: alice@example.org\nSubject: hello\n\nhi\n"), 0o600)

	out := runCLI(t, "replay", "-c", cfg, msg, "--to", "bob@example.net")
	for _, want := range []string{"envelope: from <alice@example.org> to (none)\n", "outcome: reject at mail: 550 5.7.1 no mail from you"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
