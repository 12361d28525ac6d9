package sdk_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// echoPlugin answers every call with something only that call can have:
// rcpt rejects with the recipient's address, data replaces the body with
// its upper-cased copy and adds a header naming the session. A recipient
// "panic@..." panics; "hang@..." reports on entered, blocks until the
// call's context ends and reports that end on hung.
type echoPlugin struct {
	sdk.Base
	entered chan struct{}
	hung    chan error
}

func (p *echoPlugin) Rcpt(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	switch {
	case strings.HasPrefix(r.Addr, "panic@"):
		panic("boom for " + r.Addr)
	case strings.HasPrefix(r.Addr, "hang@"):
		p.entered <- struct{}{}
		<-ctx.Done()
		p.hung <- ctx.Err()
		return sdk.Verdict{}, ctx.Err()
	}
	return sdk.Reject(550, "5.1.1", r.Addr+" in "+t.Session.ID), nil
}

func (p *echoPlugin) Data(_ context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(sdk.AddHeader{Name: "X-Session", Value: t.Session.ID},
		sdk.ReplaceBody{Body: bytes.ToUpper(m.Body)}), nil
}

func echoTxn(id string) *sdk.Txn {
	txn := sdktest.NewTxn("a@example.org")
	txn.Session.ID = id
	return txn
}

// Many goroutines share one channel; every answer reaches its own caller.
func TestChannelConcurrentCallsNotCrossed(t *testing.T) {
	h := sdktest.New(t, &echoPlugin{}, "")
	c := h.Client()
	if !c.Multiplexed() {
		t.Fatal("sdktest client does not use the channel")
	}
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				id := fmt.Sprintf("s%d-%d", g, i)
				rcpt := fmt.Sprintf("u%d-%d@example.org", g, i)
				v, err := c.Hook(context.Background(), sdk.HookRcpt, echoTxn(id), &sdk.Recipient{Addr: rcpt}, nil)
				if err != nil || v.Reply == nil || v.Reply.Text != rcpt+" in "+id {
					t.Errorf("rcpt %s: %+v, %v", rcpt, v, err)
					return
				}
				// Bodies from 0 bytes to a few chunks, so some calls' frames
				// interleave with others' on the stream.
				body := bigBody((g*10 + i) % 5 * (sdk.ChunkSize / 3))
				v, err = c.Data(context.Background(), sdk.HookData, echoTxn(id), &sdk.Message{Body: body}, true)
				if err != nil || len(v.Edits) != 2 {
					t.Errorf("data %s: %+v, %v", id, v, err)
					return
				}
				if hd := v.Edits[0].(sdk.AddHeader); hd.Value != id {
					t.Errorf("data %s: header from %s", id, hd.Value)
				}
				if got := v.Edits[1].(sdk.ReplaceBody).Body; !bytes.Equal(got, bytes.ToUpper(body)) {
					t.Errorf("data %s: replaced body of %d bytes, want %d", id, len(got), len(body))
				}
			}
		}()
	}
	wg.Wait()
}

// A panic fails its own call; calls around it succeed and the channel
// keeps serving.
func TestChannelPanicFailsOnlyItsCall(t *testing.T) {
	c := sdktest.New(t, &echoPlugin{}, "").Client()
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := fmt.Sprintf("u%d@example.org", i)
			if i%4 == 0 {
				addr = fmt.Sprintf("panic@%d.example.org", i)
			}
			v, err := c.Hook(context.Background(), sdk.HookRcpt, echoTxn("s"), &sdk.Recipient{Addr: addr}, nil)
			if i%4 == 0 {
				if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "boom for "+addr) {
					t.Errorf("%s: err = %v, want Internal with the panic", addr, err)
				}
				return
			}
			if err != nil || v.Reply.Text != addr+" in s" {
				t.Errorf("%s: %+v, %v", addr, v, err)
			}
		}()
	}
	wg.Wait()
	if !c.Multiplexed() {
		t.Error("client left the channel after a panic")
	}
}

// A hung call times out on its own: the caller gets DeadlineExceeded, the
// plugin's hook sees its context end, and other calls go on meanwhile.
func TestChannelTimeoutOfOneCall(t *testing.T) {
	p := &echoPlugin{entered: make(chan struct{}, 1), hung: make(chan error, 1)}
	c := sdktest.New(t, p, "").Client()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := c.Hook(ctx, sdk.HookRcpt, echoTxn("s"), &sdk.Recipient{Addr: "hang@example.org"}, nil)
		errc <- err
	}()
	<-p.entered
	for i := 0; i < 20; i++ {
		addr := fmt.Sprintf("u%d@example.org", i)
		if v, err := c.Hook(context.Background(), sdk.HookRcpt, echoTxn("s"), &sdk.Recipient{Addr: addr}, nil); err != nil || v.Reply.Text != addr+" in s" {
			t.Fatalf("%s beside a hung call: %+v, %v", addr, v, err)
		}
	}
	if err := <-errc; status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("hung call: err = %v, want DeadlineExceeded", err)
	}
	if err := <-p.hung; err == nil {
		t.Error("the plugin's hook context did not end")
	}

	// Cancelled rather than timed out: the plugin hears of it by a cancel
	// frame.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, err := c.Hook(ctx, sdk.HookRcpt, echoTxn("s"), &sdk.Recipient{Addr: "hang@example.org"}, nil)
		errc <- err
	}()
	<-p.entered
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Errorf("cancelled call: err = %v, want Canceled", err)
	}
	if err := <-p.hung; err != context.Canceled {
		t.Errorf("plugin saw %v, want context.Canceled", err)
	}
}

// A ctx that ends while a large body is still being sent stops the send.
func TestChannelCancelDuringBody(t *testing.T) {
	c := sdktest.New(t, &echoPlugin{}, "").Client()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Data(ctx, sdk.HookData, echoTxn("s"), &sdk.Message{Body: bigBody(8 << 20)}, true)
	if status.Code(err) != codes.Canceled {
		t.Errorf("err = %v, want Canceled", err)
	}
	v, err := c.Data(context.Background(), sdk.HookData, echoTxn("s2"), &sdk.Message{Body: []byte("x\r\n")}, true)
	if err != nil || string(v.Edits[1].(sdk.ReplaceBody).Body) != "X\r\n" {
		t.Errorf("next call: %+v, %v", v, err)
	}
}

// connectUnary serves p with Channel turned off on the side(s) given.
func connectUnary(t *testing.T, p sdk.Plugin, serverOff, clientOff bool) *sdk.Client {
	t.Helper()
	server := plugin.PluginSet{sdk.PluginKey: &sdk.GRPCPlugin{Impl: p, NoChannel: serverOff}}
	client, _ := plugin.TestPluginGRPCConn(t, false, server)
	t.Cleanup(func() { _ = client.Close() })
	// TestPluginGRPCConn dispenses with the server's plugin set; the
	// core's side with Channel off wraps the connection itself.
	raw, err := client.Dispense(sdk.PluginKey)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*sdk.Client)
	if clientOff {
		g := &sdk.GRPCPlugin{NoChannel: true}
		raw, err := g.GRPCClient(context.Background(), nil, client.Conn)
		if err != nil {
			t.Fatal(err)
		}
		c = raw.(*sdk.Client)
	}
	if _, err := c.Init(context.Background(), "unary", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	return c
}

// A plugin that does not serve Channel (an older SDK, the Python example)
// is called one RPC per hook, with the same results.
func TestChannelFallbackToUnary(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		serverOff, clientOff bool
	}{{"plugin without channel", true, false}, {"core without channel", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := connectUnary(t, &echoPlugin{}, tc.serverOff, tc.clientOff)
			if c.Multiplexed() {
				t.Fatal("client uses a channel")
			}
			v, err := c.Hook(context.Background(), sdk.HookRcpt, echoTxn("s"), &sdk.Recipient{Addr: "b@example.org"}, nil)
			if err != nil || v.Reply.Text != "b@example.org in s" {
				t.Errorf("rcpt: %+v, %v", v, err)
			}
			body := bigBody(3*sdk.ChunkSize + 7)
			v, err = c.Data(context.Background(), sdk.HookData, echoTxn("s"), &sdk.Message{Body: body}, true)
			if err != nil || !bytes.Equal(v.Edits[1].(sdk.ReplaceBody).Body, bytes.ToUpper(body)) {
				t.Errorf("data: %v", err)
			}
			_, err = c.Hook(context.Background(), sdk.HookRcpt, echoTxn("s"), &sdk.Recipient{Addr: "panic@example.org"}, nil)
			if status.Code(err) != codes.Internal {
				t.Errorf("panic: err = %v, want Internal", err)
			}
		})
	}
}
