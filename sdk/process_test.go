package sdk_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/sdk"
)

// servePluginEnv makes the test binary serve fullPlugin through sdk.Serve
// instead of running tests, so the process tests start a real plugin
// process without building one.
const servePluginEnv = "SLUICE_SDK_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(servePluginEnv) == "1" {
		p := &fullPlugin{}
		p.answer(sdk.Continue(sdk.ReplaceBody{Body: []byte("replaced\r\n")}))
		sdk.Serve(p)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startProcess starts this test binary as a plugin process, configured
// as the core would, and returns the client and the go-plugin client.
func startProcess(t *testing.T) (*sdk.Client, *plugin.Client) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), servePluginEnv+"=1")
	cfg := sdk.ClientConfig(cmd)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr})
	pc := plugin.NewClient(cfg)
	t.Cleanup(pc.Kill)
	c, err := sdk.Dispense(pc)
	if err != nil {
		t.Fatal(err)
	}
	return c, pc
}

func TestServeInAProcess(t *testing.T) {
	c, pc := startProcess(t)
	ctx := context.Background()
	info, err := c.Init(ctx, "full", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Hooks) != len(sdk.AllHooks) || info.Name != "full" {
		t.Errorf("Info = %+v", info)
	}
	body := bigBody(8 << 20)
	m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "hi"}}, Body: body}
	v, err := c.Data(ctx, sdk.HookData, fullTxn(), m, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Edits) != 1 || !bytes.Equal(v.Edits[0].(sdk.ReplaceBody).Body, []byte("replaced\r\n")) {
		t.Errorf("edits = %#v", v.Edits)
	}
	pc.Kill()
	if !pc.Exited() {
		t.Error("plugin process still running after Kill")
	}
}

// Run by hand (no handshake cookie), a plugin binary refuses to serve.
func TestServeWithoutCookie(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), servePluginEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("plugin")) {
		t.Errorf("err = %v, output %q; want exit 1 with a message", err, out)
	}
}
