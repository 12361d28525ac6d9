package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// copyExe installs src at dst as a deploy would: a new file renamed over
// the old one (writing into a running executable fails with ETXTBSY),
// with modification time mtime.
func copyExe(t *testing.T, src, dst string, mtime time.Time) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// A plugin binary replaced in place (rebuilt, upgraded) is picked up by a
// reload, as `postfix reload` restarts Postfix's daemons: the stage gets a
// new process although its config did not change. A reload with the same
// binary keeps the process.
func TestReloadRestartsStageWhoseBinaryChanged(t *testing.T) {
	bin := testlib.Build(t, "./internal/testplugins/actor")
	exe := filepath.Join(t.TempDir(), "plug")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	copyExe(t, bin, exe, t0)
	stage := fmt.Sprintf("[[stage]]\nname = \"p\"\nplugin = %q\n[stage.config]\njson = \"{}\"\n", exe)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d, _ := startFile(t, reloadBase(filepath.Join(t.TempDir(), "data"), mxListener+relayTo(sink)+stage))

	first := d.live.current().stages[0]
	if err := d.ReloadFile(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if d.live.current().stages[0] != first {
		t.Fatal("a reload with the same binary restarted the stage")
	}

	copyExe(t, bin, exe, t0.Add(time.Hour))
	if err := d.ReloadFile(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	d.live.closing.Wait()
	now := d.live.current().stages[0]
	if now == first {
		t.Fatal("the stage kept the process of the binary that was replaced")
	}
	if st, _ := now.(*sharedStage).Health(); st != "running" {
		t.Errorf("the new process is %s", st)
	}
	if st, _ := first.(*sharedStage).Health(); st == "running" {
		t.Errorf("the old process is %s, want it stopped", st)
	}
	if _, err := send(t, d, "after"); err != nil {
		t.Fatal(err)
	}
	sink.WaitN(t, 1, 10*time.Second)
}
