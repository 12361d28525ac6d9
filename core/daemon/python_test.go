package daemon

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestPythonPluginInTheChain runs the Python example plugin between two Go
// plugins: its header is seen by the stage after it, and its reject stops
// the message.
func TestPythonPluginInTheChain(t *testing.T) {
	py := pythonPlugin(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	after := `{"data": {"*": {"edits": [{"op": "change_header", "name": "X-Python-Plugin", "value": "after:", "prefix": true}]}}}`
	d := startDaemon(t, relayTo(sink)+
		actorStage(t, "before", `{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Before", "value": "go"}]}}}`, "")+
		fmt.Sprintf("[[stage]]\nname = \"python\"\nplugin = %q\ntimeout = \"5s\"\n", py)+
		actorStage(t, "after", after, ""))
	if _, err := send(t, d, "hello from go"); err != nil {
		t.Fatal(err)
	}
	data := string(sink.WaitN(t, 1, 20*time.Second)[0].Data)
	if !strings.Contains(data, "X-Before: go\r\n") || !strings.Contains(data, "X-Python-Plugin: after:seen\r\n") {
		t.Fatalf("python stage not in the chain:\n%s", data)
	}
	if _, err := send(t, d, "python-reject please"); err == nil || !strings.HasPrefix(err.Error(), "550 5.7.1") {
		t.Fatalf("python reject: %v", err)
	}
}

// pythonPlugin is the Python example's path, the test skipped where
// Debian's python3 cannot import grpc.
func pythonPlugin(t *testing.T) string {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import grpc, google.protobuf").Run(); err != nil {
		t.Skip("python3-grpcio / python3-protobuf not installed (make test installs them)")
	}
	return filepath.Join(testlib.ModuleRoot(t), "examples", "python-plugin", "plugin.py")
}

// TestPythonPluginRefusesUnknownKey: the Python example takes no settings;
// a key in its [stage.config] stops the start, reported at that key's line
// as a Go plugin's refusal is.
func TestPythonPluginRefusesUnknownKey(t *testing.T) {
	py := pythonPlugin(t)
	src := fmt.Sprintf("hostname = \"x.test\"\ndata_dir = %q\n[[listener]]\nlisten = \"127.0.0.1:0\"\n"+
		"[[stage]]\nname = \"python\"\nplugin = %q\n[stage.config]\nmoed = \"strict\"\n", t.TempDir(), py)
	_, err := Start(Options{Config: mustParse(t, src), Logger: discardLog()})
	const want = `test.toml:9: stage "python": [stage.config] refused by the plugin: unknown field "moed"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("start: %v\nwant prefix %s", err, want)
	}
}
