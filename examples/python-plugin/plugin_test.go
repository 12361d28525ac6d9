package pythonplugin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// python is Debian's interpreter, where apt installs python3-grpcio (the
// python3 on PATH may be another build without it).
const python = "/usr/bin/python3"

func needPythonGRPC(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import grpc, google.protobuf").Run(); err != nil {
		t.Skipf("%s cannot import grpc (%v): apt-get install python3-grpcio python3-protobuf", python, err)
	}
}

// start runs plugin.py as a plugin process with the ClientConfig the core
// uses, and returns the initialised client.
func start(t *testing.T) (*sdk.Client, sdk.Info, *plugin.Client) {
	t.Helper()
	c, info, pc, err := startWith(t, `{}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, info, pc
}

// startWith is start with config as its [stage.config] JSON, the plugin's
// stderr copied to stderr (when not nil), and Init's error returned.
func startWith(t *testing.T, config string, stderr io.Writer) (*sdk.Client, sdk.Info, *plugin.Client, error) {
	t.Helper()
	needPythonGRPC(t)
	script, err := filepath.Abs("plugin.py")
	if err != nil {
		t.Fatal(err)
	}
	cfg := sdk.ClientConfig(exec.Command(python, script))
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "python-plugin", Level: hclog.Warn, Output: os.Stderr})
	cfg.Stderr = stderr
	pc := plugin.NewClient(cfg)
	t.Cleanup(pc.Kill)
	c, err := sdk.Dispense(pc)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Init(context.Background(), "python", []byte(config))
	return c, info, pc, err
}

// lines collects what the plugin writes on stderr, a line at a time.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	for _, s := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		select {
		case l <- s:
		default: // the test reads the first few only
		}
	}
	return len(p), nil
}

// TestRefusesUnknownKey: the plugin takes no settings, so any key in its
// [stage.config] fails Init with INVALID_ARGUMENT naming it, which the core
// turns into an error at that key's line; and it logs why as a JSON line
// on stderr, which the core logs at its level.
func TestRefusesUnknownKey(t *testing.T) {
	stderr := make(lines, 16)
	_, _, _, err := startWith(t, `{"moed": "strict"}`, stderr)
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) || ce.Key() != "moed" || !strings.HasPrefix(ce.Msg, `unknown field "moed"`) {
		t.Fatalf("Init: %v (%T), want a ConfigError naming moed", err, err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-stderr:
			var rec struct{ Level, Msg string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "ERROR" && strings.Contains(rec.Msg, `unknown field "moed"`) {
				return
			}
			t.Logf("stderr: %s", line)
		case <-deadline:
			t.Fatal("no JSON log line naming the refused key on stderr")
		}
	}
}

func TestInit(t *testing.T) {
	_, info, _ := start(t)
	want := sdk.Info{Hooks: []sdk.Hook{sdk.HookData}, NeedsBody: false, Name: "python-plugin", Version: "1.0"}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("Info = %+v, want %+v", info, want)
	}
}

func TestDataHook(t *testing.T) {
	c, _, pc := start(t)
	ctx := context.Background()
	txn := sdktest.NewTxn("alice@example.org", "bob@example.org")
	cases := []struct {
		raw      string
		sendBody bool
		want     sdk.Verdict
	}{
		{"Subject: hello\r\n\r\nbody\r\n", false,
			sdk.Continue(sdk.AddHeader{Name: "X-Python-Plugin", Value: "seen"})},
		// The body is streamed when the core sends it anyway; the plugin
		// must read past the chunks.
		{"From: a@example.org\r\nSubject: hello again\r\n\r\n" + string(make([]byte, 1<<20)), true,
			sdk.Continue(sdk.AddHeader{Name: "X-Python-Plugin", Value: "seen"})},
		{"subject: please python-reject this\r\n\r\nbody\r\n", false,
			sdk.Reject(550, "5.7.1", "rejected by the python plugin").Because("subject contains python-reject")},
	}
	for _, tc := range cases {
		m, err := sdktest.ParseMessage([]byte(tc.raw))
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.Data(ctx, sdk.HookData, txn, m, tc.sendBody)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%q: verdict %+v, want %+v", m.Get("Subject"), v, tc.want)
		}
	}
	// Shutdown through go-plugin's controller ends the process.
	pc.Kill()
	if !pc.Exited() {
		t.Error("python plugin still running after Kill")
	}
}

// A SIGTERM to the daemon's process group reaches the plugin too; it
// keeps serving, as the core stops it itself once it has drained its
// sessions. The kernel dooms a process without a handler for it within
// the kill, so the call after it would fail.
func TestOutlivesSIGTERM(t *testing.T) {
	c, _, pc := start(t)
	rc := pc.ReattachConfig()
	if rc == nil || rc.Pid == 0 {
		t.Fatalf("no pid for the plugin process: %+v", rc)
	}
	if err := syscall.Kill(rc.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	m, err := sdktest.ParseMessage([]byte("Subject: after SIGTERM\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Data(context.Background(), sdk.HookData, sdktest.NewTxn("alice@example.org", "bob@example.org"), m, false); err != nil {
		t.Fatalf("a call after SIGTERM: %v", err)
	}
	if pc.Exited() {
		t.Error("the plugin exited after SIGTERM")
	}
}

func TestRefusesToRunByHand(t *testing.T) {
	needPythonGRPC(t)
	out, err := exec.Command(python, "plugin.py").CombinedOutput()
	if err == nil {
		t.Errorf("plugin.py ran without the handshake cookie: %q", out)
	}
}
