package sdk

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-plugin"
)

// A direct channel that breaks while the plugin lives on gives way to the
// gRPC Channel stream: calls keep working.
func TestDirectChannelFallsBackToGRPC(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SLUICE_SDK_TEST_SERVE=noop") // see TestMain
	pc := plugin.NewClient(ClientConfig(cmd))
	t.Cleanup(pc.Kill)
	c, err := Dispense(pc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Init(context.Background(), "s", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := c.Transport(); got != "direct" {
		t.Fatalf("transport %q, want direct", got)
	}
	txn := &Txn{Envelope: Envelope{MailFrom: "a@example.org"}}
	if _, err := c.Hook(context.Background(), HookMail, txn, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Break the control socket and drop the idle connections: the next
	// call cannot get a connection.
	p := c.pool.Load()
	_ = p.ctl.Close()
	p.mu.Lock()
	idle := p.idle
	p.idle, p.open = nil, p.open-len(idle)
	p.mu.Unlock()
	for _, st := range idle {
		_ = st.Close()
	}
	if v, err := c.Hook(context.Background(), HookMail, txn, nil, nil); err != nil || v.Action != ActionContinue {
		t.Fatalf("mail after the break: %+v, %v", v, err)
	}
	if got := c.Transport(); got != "channel" {
		t.Errorf("transport after the break %q, want channel", got)
	}
}
