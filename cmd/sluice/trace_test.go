package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	startProc(t, cfg, smtpAddr)
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
