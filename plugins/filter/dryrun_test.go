package filter

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// A dry run (check-config, replay: sdk.DryRun) reads the greylist state
// the daemon's own process keeps and writes nothing: it used to create
// state_dir, rewrite the snapshot and truncate the log under the running
// daemon, whose next records were then lost. Its decisions still follow
// the state it read.
func TestGreylistDryRunWritesNothing(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	tx := txnFrom("192.0.2.10", "alice@example.net")
	_, rcpt := greyPlugin(t, clk, dir, "")
	wantGreylisted(t, "first attempt", rcpt(tx, "bob@example.org"))
	clk.Advance(6 * time.Minute)
	wantAction(t, "retry passes", rcpt(tx, "bob@example.org"), sdk.ActionContinue)
	wantGreylisted(t, "another first attempt", rcpt(tx, "carol@example.org")) // in the log only
	files := func() map[string]string {
		out := map[string]string{}
		for _, name := range []string{snapshotFile, logFile} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = string(b)
		}
		return out
	}
	before := files()

	t.Setenv(sdk.EnvDryRun, "1")
	_, dry := greyPlugin(t, clk, dir, "")
	wantAction(t, "dry run: the whitelisted triplet", dry(tx, "bob@example.org"), sdk.ActionContinue)
	wantGreylisted(t, "dry run: too early for carol", dry(tx, "carol@example.org"))
	wantGreylisted(t, "dry run: a new triplet", dry(tx, "dave@example.org"))
	for name, was := range before {
		if now := files()[name]; now != was {
			t.Errorf("%s changed by a dry run:\nwas %q\nnow %q", name, was, now)
		}
	}
	missing := filepath.Join(t.TempDir(), "greylist")
	_, dry2 := greyPlugin(t, clk, missing, "")
	wantGreylisted(t, "dry run over no state", dry2(tx, "bob@example.org"))
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a dry run created %s: %v", missing, err)
	}
}
