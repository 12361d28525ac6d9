package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/sdk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// servePluginEnv makes the test binary serve fullPlugin through sdk.Serve
// instead of running tests, so the process tests start a real plugin
// process without building one.
const servePluginEnv = "SLUICE_SDK_TEST_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(servePluginEnv) {
	case "1":
		p := &fullPlugin{}
		p.answer(sdk.Continue(sdk.ReplaceBody{Body: []byte("replaced\r\n")}))
		sdk.Serve(p)
		os.Exit(0)
	case "upcase":
		sdk.Serve(upcaser{})
		os.Exit(0)
	case "nochannel":
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: sdk.Handshake, GRPCServer: plugin.DefaultGRPCServer,
			Plugins: plugin.PluginSet{sdk.PluginKey: &sdk.GRPCPlugin{Impl: noopPlugin{}, NoChannel: true}}})
		os.Exit(0)
	case "noop":
		sdk.Serve(noopPlugin{})
		os.Exit(0)
	case "noop-sockets":
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: sdk.Handshake, GRPCServer: plugin.DefaultGRPCServer,
			Plugins: sdk.SocketPluginSet(noopPlugin{})})
		os.Exit(0)
	case "batch":
		sdk.Serve(&batchPlugin{seen: make(map[string]*batchSeen)})
		os.Exit(0)
	case "each":
		sdk.Serve(newEachPlugin())
		os.Exit(0)
	case "each-old":
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: sdk.Handshake, GRPCServer: plugin.DefaultGRPCServer,
			Plugins: sdk.OldBatchPluginSet(newEachPlugin())})
		os.Exit(0)
	case "hang":
		sdk.Serve(&hangPlugin{entered: os.NewFile(3, "entered")})
		os.Exit(0)
	case "echo":
		echoPipes() // bench_test.go
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// hangPlugin's mail hook writes a byte to entered, then never returns;
// its rcpt hook answers at once.
type hangPlugin struct {
	sdk.Base
	entered *os.File
}

func (p *hangPlugin) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) {
	_, _ = p.entered.Write([]byte{1})
	select {}
}

func (p *hangPlugin) Rcpt(context.Context, *sdk.Txn, sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// startProcess starts this test binary as a plugin process, configured
// as the core would, and returns the client and the go-plugin client.
func startProcess(t *testing.T) (*sdk.Client, *plugin.Client) {
	t.Helper()
	return startProcessWith(t, "1")
}

// startProcessWith starts the plugin that servePluginEnv=mode serves,
// handing it extra as fd 3 onwards.
func startProcessWith(t testing.TB, mode string, extra ...*os.File) (*sdk.Client, *plugin.Client) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), servePluginEnv+"="+mode)
	cmd.ExtraFiles = extra
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
	if got := c.Transport(); got != "direct" {
		t.Errorf("transport %q, want direct: a plugin process gets the direct channel", got)
	}
	if !sdk.DirectPipes(c) {
		t.Error("the direct channel's connections are sockets, want pipes: the plugin's SDK takes them")
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
	// The disconnect hook over the direct channel (encode.go, decode.go).
	if v, err := c.Hook(ctx, sdk.HookDisconnect, &sdk.Txn{Session: fullTxn().Session}, nil, nil); err != nil || !v.PlainContinue() {
		t.Errorf("disconnect: %+v, %v", v, err)
	}
	// The outcome hook over the direct channel: encoded by protobuf,
	// decoded by proto.Unmarshal when decode.go gives up on it.
	if err := c.Outcome(ctx, fullTxn(), testOutcome()); err != nil {
		t.Errorf("outcome: %v", err)
	}
	c.Close()
	if got := c.Transport(); got != "rpc" {
		t.Errorf("transport after Close %q, want rpc: the sockets are released", got)
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

// startHang starts and initializes the "hang" plugin, whose hooks never
// answer; it writes a byte to the returned pipe for each call it holds.
func startHang(t *testing.T) (*sdk.Client, *plugin.Client, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c, pc := startProcessWith(t, "hang", w)
	w.Close()
	if _, err := c.Init(context.Background(), "hang", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	return c, pc, r
}

// When the plugin process dies, every call waiting on the channel fails
// at once rather than at its timeout, and later calls fail fast too.
func TestChannelBreakFailsPendingCalls(t *testing.T) {
	c, pc, r := startHang(t)
	if !c.Multiplexed() {
		t.Fatal("client does not use the channel")
	}
	const pending = 10
	errc := make(chan error, pending)
	for i := 0; i < pending; i++ {
		go func() {
			_, err := c.Hook(context.Background(), sdk.HookMail, fullTxn(), nil, nil)
			errc <- err
		}()
	}
	if _, err := io.ReadFull(r, make([]byte, pending)); err != nil {
		t.Fatal(err)
	}
	// Every call is in the plugin now; another still gets its answer.
	if _, err := c.Hook(context.Background(), sdk.HookRcpt, fullTxn(), &sdk.Recipient{Addr: "b@example.org"}, nil); err != nil {
		t.Fatalf("rcpt beside hung calls: %v", err)
	}
	pc.Kill()
	deadline := time.After(5 * time.Second)
	for i := 0; i < pending; i++ {
		select {
		case err := <-errc:
			if err == nil {
				t.Error("pending call succeeded after the plugin died")
			}
		case <-deadline:
			t.Fatalf("%d of %d pending calls still waiting 5s after the plugin died", pending-i, pending)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Hook(ctx, sdk.HookRcpt, fullTxn(), &sdk.Recipient{Addr: "b@example.org"}, nil); err == nil || ctx.Err() != nil {
		t.Errorf("call after the plugin died: err = %v, want a prompt error", err)
	}
}

// Over the direct channel a large body goes out and its replacement comes
// back in chunks, and concurrent calls each get their own answer.
func TestDirectChannelLargeBodies(t *testing.T) {
	c, _ := startProcessWith(t, "upcase")
	ctx := context.Background()
	if _, err := c.Init(ctx, "upcase", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := c.Transport(); got != "direct" {
		t.Fatalf("transport %q, want direct", got)
	}
	sizes := []int{0, 1, 4096, 20 << 10, sdk.ChunkSize, 3*sdk.ChunkSize + 7, 8 << 20}
	errc := make(chan error, len(sizes))
	for i, n := range sizes {
		go func() {
			body := bigBody(n)
			if n > 0 {
				body[0] = byte('a' + i) // each call's body differs
			}
			m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "big"}}, Body: body}
			v, err := c.Data(ctx, sdk.HookData, fullTxn(), m, true)
			if err != nil {
				errc <- err
				return
			}
			got := v.Edits[0].(sdk.ReplaceBody).Body
			if !bytes.Equal(got, bytes.ToUpper(body)) {
				errc <- fmt.Errorf("%d-byte body: got %d bytes back, not its upper-cased copy", n, len(got))
				return
			}
			errc <- nil
		}()
	}
	for range sizes {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

// A plugin that declines the direct channel (here: one without Channel)
// is called over gRPC, and the core does not keep the socket.
func TestNoDirectChannelWithoutChannel(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), servePluginEnv+"=nochannel")
	pc := plugin.NewClient(sdk.ClientConfig(cmd))
	t.Cleanup(pc.Kill)
	c, err := sdk.Dispense(pc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Init(context.Background(), "n", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := c.Transport(); got != "rpc" {
		t.Fatalf("transport %q, want rpc", got)
	}
	if v, err := c.Hook(context.Background(), sdk.HookMail, fullTxn(), nil, nil); err != nil || v.Action != sdk.ActionContinue {
		t.Fatalf("mail: %+v, %v", v, err)
	}
}

// On the direct channel a call that times out fails at its deadline, and
// the next call gets its answer: the hung call's connection is not reused.
func TestDirectChannelTimeout(t *testing.T) {
	c, _, _ := startHang(t)
	if got := c.Transport(); got != "direct" {
		t.Fatalf("transport %q, want direct", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Hook(ctx, sdk.HookMail, fullTxn(), nil, nil)
	if status.Code(errors.Unwrap(err)) != codes.DeadlineExceeded {
		t.Fatalf("hung mail hook: err = %v, want DeadlineExceeded", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Hook(context.Background(), sdk.HookRcpt, fullTxn(), &sdk.Recipient{Addr: "b@example.org"}, nil); err != nil {
			t.Fatalf("rcpt %d after the timeout: %v", i, err)
		}
	}
}

// On the direct channel a call under WithCallTimeout, which starts no
// timer, fails at its deadline all the same (the socket's), and the end
// of its parent interrupts it well before; the connections each hung call
// held are not reused.
func TestDirectChannelCallTimeout(t *testing.T) {
	c, _, r := startHang(t)
	if got := c.Transport(); got != "direct" {
		t.Fatalf("transport %q, want direct", got)
	}
	rcpt := func(ctx context.Context) error {
		_, err := c.Hook(ctx, sdk.HookRcpt, fullTxn(), &sdk.Recipient{Addr: "b@example.org"}, nil)
		return err
	}

	// The deadline.
	ctx, cancel := sdk.WithCallTimeout(context.Background(), 200*time.Millisecond)
	start := time.Now()
	_, err := c.Hook(ctx, sdk.HookMail, fullTxn(), nil, nil)
	cancel()
	if status.Code(errors.Unwrap(err)) != codes.DeadlineExceeded {
		t.Fatalf("hung mail hook: err = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 10*time.Second {
		t.Errorf("hung mail hook failed after %v, want its 200ms deadline", el)
	}
	if err := rcpt(context.Background()); err != nil {
		t.Fatalf("rcpt after the timeout: %v", err)
	}

	// The parent's end, with the same parent for a call before (which
	// leaves its registration with the parent behind) and the hung one.
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel = sdk.WithCallTimeout(parent, time.Hour)
	if err := rcpt(ctx); err != nil {
		t.Fatalf("rcpt: %v", err)
	}
	cancel()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := sdk.WithCallTimeout(parent, time.Hour)
		defer cancel()
		_, err := c.Hook(ctx, sdk.HookMail, fullTxn(), nil, nil)
		errc <- err
	}()
	if _, err := io.ReadFull(r, make([]byte, 2)); err != nil { // both hung calls
		t.Fatal(err)
	}
	stop()
	select {
	case err := <-errc:
		if status.Code(errors.Unwrap(err)) != codes.Canceled {
			t.Fatalf("mail hook whose parent ended: err = %v, want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parent's end did not interrupt the hung call")
	}
	for i := 0; i < 3; i++ {
		if err := rcpt(context.Background()); err != nil {
			t.Fatalf("rcpt %d after the interruption: %v", i, err)
		}
	}
}

// On the direct channel a frame too large for the protocol fails its call
// before anything is written, and the plugin keeps answering.
func TestDirectChannelRefusesOversizedFrame(t *testing.T) {
	c, _ := startProcessWith(t, "upcase")
	ctx := context.Background()
	if _, err := c.Init(ctx, "upcase", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	huge := &sdk.Message{Headers: []sdk.Header{{Name: "X-Big", Value: string(bytes.Repeat([]byte("a"), sdk.MaxFrameSize+1))}}}
	if _, err := c.Data(ctx, sdk.HookData, fullTxn(), huge, true); !errors.Is(err, sdk.ErrFrameTooLarge) {
		t.Fatalf("oversized header section: err = %v, want sdk.ErrFrameTooLarge", err)
	}
	m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "ok"}}, Body: []byte("abc\r\n")}
	v, err := c.Data(ctx, sdk.HookData, fullTxn(), m, true)
	if err != nil || !bytes.Equal(v.Edits[0].(sdk.ReplaceBody).Body, []byte("ABC\r\n")) {
		t.Fatalf("next call: %+v, %v", v, err)
	}
}
