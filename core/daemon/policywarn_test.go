package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A policy stage whose timeout cannot hold its server's tries is valid
// and runs, but serve says so as check-config does (policyTimeWarnings,
// the one function both use): one WARN line at start and at each reload
// that keeps the stage so; a reload giving it a timeout that holds them
// says nothing.
func TestServeWarnsPolicyStageTimeout(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.toml")
	write := func(timeout string) {
		t.Helper()
		src := reloadBase(filepath.Join(dir, "data"), mxListener+
			fmt.Sprintf("[[stage]]\nname = \"p\"\nplugin = \"policy\"\n%s[stage.config]\nserver = \"inet:127.0.0.1:1\"\n", timeout))
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuf
	d, err := Start(Options{Config: c, Logger: NewLogger(c.Log, &buf), Self: self, ConfigPath: path, DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	warned := func(want int) {
		t.Helper()
		const line = `level=WARN msg="stage p: its timeout (5s) is shorter than the policy server's tries take: ` +
			`try_limit 2 tries of timeout 1m40s, retry_delay 1s apart, 3m21s,`
		if n := strings.Count(buf.String(), line); n != want {
			t.Fatalf("%d warnings, want %d:\n%s", n, want, buf.String())
		}
	}
	warned(1)
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	warned(2)
	write("timeout = \"202s\"\n")
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	warned(2)
}
