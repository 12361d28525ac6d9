package pythonplugin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

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
	needPythonGRPC(t)
	script, err := filepath.Abs("plugin.py")
	if err != nil {
		t.Fatal(err)
	}
	cfg := sdk.ClientConfig(exec.Command(python, script))
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "python-plugin", Level: hclog.Warn, Output: os.Stderr})
	pc := plugin.NewClient(cfg)
	t.Cleanup(pc.Kill)
	c, err := sdk.Dispense(pc)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Init(context.Background(), "python", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return c, info, pc
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

func TestRefusesToRunByHand(t *testing.T) {
	needPythonGRPC(t)
	out, err := exec.Command(python, "plugin.py").CombinedOutput()
	if err == nil {
		t.Errorf("plugin.py ran without the handshake cookie: %q", out)
	}
}
