package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A reload that leaves a milter stage as it was keeps its /api/pipeline
// figures, as it keeps an unchanged plugin stage's: each reload made a new
// milter stage, whose calls started again from zero. A milter whose
// address changes is a new stage.
func TestReloadKeepsUnchangedMilterStage(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	a, b := startMilter(t, nil, "A"), startMilter(t, nil, "B")
	cfg := func(addr string) string {
		return reloadBase(dataDir, mxListener+relayTo(sink)+milterStage("m", addr, ""))
	}
	d, path := startFile(t, cfg(a))
	calls := func() int {
		t.Helper()
		st := d.pipe().Status()
		if len(st) != 1 {
			t.Fatalf("stages %+v", st)
		}
		return int(st[0].Calls)
	}
	if _, err := send(t, d, "one"); err != nil {
		t.Fatal(err)
	}
	before := calls()
	if before == 0 {
		t.Fatal("no milter call counted")
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if got := calls(); got != before {
		t.Fatalf("calls after an unchanged reload: %d, want %d", got, before)
	}
	if err := os.WriteFile(path, []byte(cfg(b)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if got := calls(); got != 0 {
		t.Fatalf("calls of a milter stage at a new address: %d, want 0", got)
	}
	// The new stage works (and the second milter has served, before the
	// test's end closes it: go-milter's Close reads what Serve wrote).
	if _, err := send(t, d, "two"); err != nil {
		t.Fatal(err)
	}
	if got := calls(); got == 0 {
		t.Fatal("the new milter stage counted no call")
	}
}
