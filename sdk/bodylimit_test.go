package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// A plugin that replaces the body with more than the client's limit fails
// the call with ErrBodyTooLarge, on each transport, and the client is
// fit for the next call: on the direct channel the connection that still
// carries the rest of the answer is not reused. Before, the core took a
// replaced body of any size, holding all of it in memory (a plugin
// answering with gigabytes exhausted the daemon's) and queueing a message
// larger than any client could have sent.
func TestReplacedBodyOverLimit(t *testing.T) {
	const limit = 1 << 20
	transports := map[string]func(t *testing.T) *sdk.Client{
		"direct": func(t *testing.T) *sdk.Client {
			c, _ := startProcessWith(t, "upcase")
			return c
		},
		"channel": func(t *testing.T) *sdk.Client { return sdktest.Connect(t, upcaser{}) },
		"rpc": func(t *testing.T) *sdk.Client {
			rpc, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{sdk.PluginKey: &sdk.GRPCPlugin{Impl: upcaser{}, NoChannel: true}})
			t.Cleanup(func() { _ = rpc.Close() })
			raw, err := rpc.Dispense(sdk.PluginKey)
			if err != nil {
				t.Fatal(err)
			}
			return raw.(*sdk.Client)
		},
	}
	for name, start := range transports {
		t.Run(name, func(t *testing.T) {
			c := start(t)
			c.SetMaxBody(limit)
			ctx := context.Background()
			if _, err := c.Init(ctx, "upcase", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if name == "direct" && c.Transport() != "direct" {
				t.Fatalf("transport %q", c.Transport())
			}
			data := func(n int) (sdk.Verdict, []byte, error) {
				body := bigBody(n)
				m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "s"}}, Body: body}
				// A connection reused with the rest of the refused answer
				// still on it would leave the call waiting for ever.
				ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				v, err := c.Data(ctx, sdk.HookData, sdktest.NewTxn("a@example.org"), m, true)
				return v, body, err
			}
			for range 3 {
				if _, _, err := data(3*limit + 5); !errors.Is(err, sdk.ErrBodyTooLarge) {
					t.Fatalf("a 3 MiB replacement under a 1 MiB limit: err %v, want ErrBodyTooLarge", err)
				}
				// The limit itself is allowed, and the next call gets
				// its own answer.
				v, body, err := data(limit)
				if err != nil {
					t.Fatalf("call after the refused one: %v", err)
				}
				if got := v.Edits[0].(sdk.ReplaceBody).Body; !bytes.Equal(got, bytes.ToUpper(body)) {
					t.Fatalf("call after the refused one: got %d bytes, not its answer", len(got))
				}
			}
		})
	}
}
