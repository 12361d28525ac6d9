package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// check-config and replay start the plugins with sdk.EnvDryRun: the
// filter's greylisting then reads state_dir and writes nothing, so running
// them beside the daemon (which owns the directory) neither creates it nor
// rewrites the daemon's snapshot and log. Replay still shows the
// greylisting verdict.
func TestDryRunsLeaveGreylistStateAlone(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	state := filepath.Join(t.TempDir(), "greylist")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[[stage]]
name = "filter"
plugin = "filter"
[stage.config.greylist]
enabled = true
state_dir = %q
skip_networks = []
`, t.TempDir(), state)
	c := mustParse(t, src)
	if _, err := Check(c, self); err != nil {
		t.Fatal(err)
	}
	res, err := Replay(context.Background(), c, []byte("From: a@example.net\r\nTo: b@sluice.test\r\nSubject: x\r\n\r\nx\r\n"),
		ReplayOptions{Self: self, ClientIP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Reply, "451 4.7.1 Greylisted") || res.Hook != "rcpt" {
		t.Errorf("replay: %s at %s with %q, want greylisting's 451 4.7.1 at rcpt", res.Outcome, res.Hook, res.Reply)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("check-config or replay created the greylist state_dir: %v", err)
	}
}
