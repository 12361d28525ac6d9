package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Start refuses a data_dir whose file system has less than queue_minfree
// free, with one line naming both numbers, before Pebble opens it or a
// listener is bound (Pebble may have to write while opening, and on a full
// disk it would wait forever, silently).
func TestStartRefusesDataDirShortOfSpace(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	port := freePort(t)
	c := mustParse(t, fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
[limits]
queue_minfree = 4611686018427387904
[[listener]]
name = "mx"
listen = "127.0.0.1:%d"
`, dataDir, port))
	d, err := Start(Options{Config: c, Logger: discardLog()})
	if err == nil {
		_ = d.Stop()
		t.Fatal("Start succeeded on a data_dir short of 4 EiB")
	}
	want := regexp.MustCompile(`^data_dir ` + regexp.QuoteMeta(dataDir) +
		`: only \d+ bytes free on its file system, need at least 4611686018427387904 \(queue_minfree\)$`)
	if !want.MatchString(err.Error()) {
		t.Fatalf("Start: %q, want %s", err, want)
	}
	if ents, err := os.ReadDir(dataDir); err != nil || len(ents) != 0 {
		t.Errorf("data_dir holds %v (%v), want nothing: Pebble must not have run", ents, err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the listener's port is taken after a refused start: %v", err)
	}
	_ = ln.Close()
}
