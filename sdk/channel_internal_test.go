package sdk

import (
	"context"
	"testing"

	"github.com/hashicorp/go-plugin"
)

type continuePlugin struct{ Base }

func (continuePlugin) Mail(context.Context, *Txn) (Verdict, error) { return Accept(), nil }

// A channel that breaks while the plugin lives on is replaced by the next
// call instead of failing every call from then on.
func TestChannelReopensAfterBreak(t *testing.T) {
	rpc, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{PluginKey: &GRPCPlugin{Impl: continuePlugin{}}})
	t.Cleanup(func() { _ = rpc.Close() })
	raw, err := rpc.Dispense(PluginKey)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*Client)
	if _, err := c.Init(context.Background(), "s", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	txn := &Txn{Envelope: Envelope{MailFrom: "a@example.org"}}
	if v, err := c.Hook(context.Background(), HookMail, txn, nil, nil); err != nil || v.Action != ActionAccept {
		t.Fatalf("mail: %+v, %v", v, err)
	}
	old := c.ch.Load()
	// Ending our half makes the plugin end the stream: a break with the
	// process alive.
	if err := old.stream.(interface{ CloseSend() error }).CloseSend(); err != nil {
		t.Fatal(err)
	}
	<-old.done
	if v, err := c.Hook(context.Background(), HookMail, txn, nil, nil); err != nil || v.Action != ActionAccept {
		t.Fatalf("mail after the break: %+v, %v", v, err)
	}
	if cur := c.ch.Load(); cur == old || cur == nil {
		t.Error("the broken channel was not replaced")
	}
}
