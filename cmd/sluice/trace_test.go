package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

func TestTraceCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	actor := testlib.Build(t, "./internal/testplugins/actor")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
relay_networks = ["127.0.0.0/8"]
[admin]
listen = %q
[[listener]]
name = "mx"
listen = %q
[delivery]
relay = %q
[[stage]]
name = "tagger"
plugin = %q
[stage.config]
json = '{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Tag", "value": "on"}]}}}'
`, adminAddr, smtpAddr, sink.Addr, actor)), 0o600)
	startServe(t, cfg)
	r, err := testlib.Send(smtpAddr, "a@sluice.test", []string{"b@remote.test"}, testlib.Message("a@sluice.test", "b@remote.test", "traced", "x"))
	if err != nil {
		t.Fatal(err)
	}
	id := r[strings.LastIndex(r, " ")+1:]
	out := runCLI(t, "trace", id, "-c", cfg)
	for _, want := range []string{"message " + id + ": continue", "tagger  connect", "tagger  data", "add header X-Tag: on"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	var tr pipeline.Trace
	if err := json.Unmarshal([]byte(runCLI(t, "trace", "--json", "--admin", adminAddr, id)), &tr); err != nil || tr.ID != id || len(tr.Entries) != 5 {
		t.Fatalf("json trace %+v %v", tr, err)
	}
}

// pidsOf lists the running processes whose executable is path.
func pidsOf(path string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestPluginsDieWithAKilledDaemon: kill -9 of the daemon leaves no plugin
// process behind (Linux PR_SET_PDEATHSIG).
func TestPluginsDieWithAKilledDaemon(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("spawns processes; Linux only")
	}
	actor := testlib.Build(t, "./internal/testplugins/actor")
	dir := t.TempDir()
	smtpAddr := freeAddr(t)
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = \"data\"\n[[listener]]\nname = \"mx\"\nlisten = %q\n[[stage]]\nname = \"a\"\nplugin = %q\n", smtpAddr, actor)), 0o600)
	p := startServe(t, cfg)
	if len(pidsOf(actor)) == 0 {
		t.Fatal("plugin process not running")
	}
	p.kill()
	deadline := time.Now().Add(10 * time.Second)
	for len(pidsOf(actor)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes %v outlived the daemon", pidsOf(actor))
		}
		time.Sleep(10 * time.Millisecond) // polling /proc, bounded
	}
}
