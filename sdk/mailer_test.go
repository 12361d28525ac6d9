package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/sluice-mta/sluice/sdk"
)

// mailing keeps its Config and, at rcpt, sends a message to the
// recipient through cfg.Mailer: the queue id is the verdict's reason, a
// failure its reply.
type mailing struct {
	sdk.Base
	cfg  sdk.Config
	body []byte // the message sent; a default one when nil
	// sendAtConfigure: Configure sends too, and keeps the error.
	sendAtConfigure bool
	configureErr    error
}

func (p *mailing) Configure(ctx context.Context, cfg sdk.Config) error {
	p.cfg = cfg
	if p.sendAtConfigure {
		_, p.configureErr = cfg.Mailer.Send(ctx, sdk.OutgoingMessage{To: []string{"x@example.org"}, Message: []byte("Subject: x\r\n\r\nx\r\n")})
	}
	return nil
}

func (p *mailing) Rcpt(ctx context.Context, _ *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	msg := p.body
	if msg == nil {
		msg = []byte("Subject: hello\r\n\r\nhi " + r.Addr + "\r\n")
	}
	id, err := p.cfg.Mailer.Send(ctx, sdk.OutgoingMessage{From: "bot@example.org", To: []string{r.Addr}, Message: msg})
	if err != nil {
		if errors.Is(err, sdk.ErrNoMailer) {
			return sdk.Reject(550, "5.3.0", "no mailer: "+err.Error()), nil
		}
		return sdk.Reject(550, "5.3.0", err.Error()), nil
	}
	return sdk.Continue().Because("queued " + id), nil
}

// brokered serves p with go-plugin's broker between the two sides, as a
// plugin process is, with h as the core's mail handler (none when nil)
// and dir as the state directory.
func brokered(t *testing.T, p sdk.Plugin, h sdk.MailHandler, dir string) *sdk.Client {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{sdk.PluginKey: &sdk.GRPCPlugin{Impl: p}})
	// Close stops the server too (go-plugin's Shutdown); a Stop of ours
	// as well would race with it.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(sdk.PluginKey)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*sdk.Client)
	t.Cleanup(c.Close)
	if h != nil {
		c.SetMailHandler(h)
	}
	c.SetStateDir(dir)
	if _, err := c.Init(context.Background(), "notify", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	return c
}

// rcpt runs the rcpt hook for addr and returns its verdict.
func rcpt(t *testing.T, c *sdk.Client, addr string) sdk.Verdict {
	t.Helper()
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	v, err := c.Hook(context.Background(), sdk.HookRcpt, txn, &sdk.Recipient{Addr: addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A plugin's Configure keeps cfg.Mailer and StateDir; a hook's Send
// reaches the core's handler with the stage's name and the message, and
// the handler's queue id comes back.
func TestMailerSendReachesHandler(t *testing.T) {
	var mu sync.Mutex
	var got []sdk.OutgoingMessage
	var stages []string
	h := func(_ context.Context, stage string, m sdk.OutgoingMessage) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		got, stages = append(got, m), append(stages, stage)
		return "Q1", nil
	}
	p := &mailing{}
	c := brokered(t, p, h, "/var/lib/sluice/plugins/notify")
	if p.cfg.StateDir != "/var/lib/sluice/plugins/notify" {
		t.Errorf("StateDir = %q", p.cfg.StateDir)
	}
	if v := rcpt(t, c, "bob@example.org"); v.Action != sdk.ActionContinue || v.Reason != "queued Q1" {
		t.Fatalf("verdict %+v, want continue because queued Q1", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || stages[0] != "notify" || got[0].From != "bot@example.org" ||
		strings.Join(got[0].To, ",") != "bob@example.org" || string(got[0].Message) != "Subject: hello\r\n\r\nhi bob@example.org\r\n" {
		t.Fatalf("handler got %q %+v", stages, got)
	}
}

// The core's refusal reaches the plugin as its Send's error text.
func TestMailerHandlerErrorReachesPlugin(t *testing.T) {
	h := func(context.Context, string, sdk.OutgoingMessage) (string, error) {
		return "", errors.New(`to "bob@": bad domain`)
	}
	c := brokered(t, &mailing{}, h, "")
	v := rcpt(t, c, "bob@example.org")
	if v.Action != sdk.ActionReject || v.Reply.Text != `sdk: mail not queued: to "bob@": bad domain` {
		t.Fatalf("verdict %+v, want the handler's error", v)
	}
}

// Without a handler (check-config, replay, an older core) the plugin's
// Mailer fails with ErrNoMailer, and its StateDir is "".
func TestMailerNone(t *testing.T) {
	p := &mailing{}
	c := brokered(t, p, nil, "")
	if p.cfg.Mailer == nil || p.cfg.StateDir != "" {
		t.Fatalf("config %+v", p.cfg)
	}
	if v := rcpt(t, c, "bob@example.org"); v.Action != sdk.ActionReject || !strings.HasPrefix(v.Reply.Text, "no mailer: ") {
		t.Fatalf("verdict %+v, want ErrNoMailer", v)
	}
}

// A Send from Configure fails at once, with ErrNoMailer: the core serves
// the Mailer once Init has answered. A Send from a hook then works.
func TestMailerNotAtConfigure(t *testing.T) {
	p := &mailing{sendAtConfigure: true}
	c := brokered(t, p, func(context.Context, string, sdk.OutgoingMessage) (string, error) { return "Q", nil }, "")
	if !errors.Is(p.configureErr, sdk.ErrNoMailer) || !strings.Contains(p.configureErr.Error(), "before Configure has returned") {
		t.Fatalf("Send at Configure: %v", p.configureErr)
	}
	if v := rcpt(t, c, "bob@example.org"); v.Reason != "queued Q" {
		t.Fatalf("verdict %+v", v)
	}
}

// A 20 MiB message passes, five times gRPC's default message size.
func TestMailerLargeMessage(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 20<<20/64)
	var got int
	h := func(_ context.Context, _ string, m sdk.OutgoingMessage) (string, error) {
		got = len(m.Message)
		return "Q", nil
	}
	c := brokered(t, &mailing{body: body}, h, "")
	if v := rcpt(t, c, "bob@example.org"); v.Reason != "queued Q" || got != len(body) {
		t.Fatalf("verdict %+v, handler got %d bytes of %d", v, got, len(body))
	}
}

// The core takes at most 8 Sends of a plugin process at once: a ninth
// waits in the plugin until one of them is answered.
func TestMailerConcurrencyCap(t *testing.T) {
	arrived, release := make(chan struct{}, 20), make(chan struct{})
	h := func(ctx context.Context, _ string, _ sdk.OutgoingMessage) (string, error) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "Q", nil
	}
	c := brokered(t, &mailing{}, h, "")
	var wg sync.WaitGroup
	defer func() { wg.Wait() }()
	defer close(release) // before the wait: a failure must not hang
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
			_, _ = c.Hook(context.Background(), sdk.HookRcpt, txn, &sdk.Recipient{Addr: "bob@example.org"}, nil)
		}()
	}
	for i := range 8 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d Sends reached the core, want 8", i)
		}
	}
	// A ninth would come at once; none may while the 8 are held.
	select {
	case <-arrived:
		t.Fatal("a ninth Send reached the core while 8 were under way")
	case <-time.After(300 * time.Millisecond):
	}
}
