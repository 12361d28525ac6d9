package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/sdk"
)

// batchPlugin records, per session, the envelope hooks it ran, each with
// the transaction it saw, and how many frames they came in: the calls of
// one frame share its context. It acts as the session ID asks:
// "reject@helo" rejects at helo, "edit@mail" answers mail with a
// Continue that sets the sender, "fail@mail" fails, "hang@rcpt" holds rcpt
// until the call's context ends. Its deliver hook, which no batch
// carries, answers with the record of its session as the reason.
type batchPlugin struct {
	sdk.Base
	mu   sync.Mutex
	seen map[string]*batchSeen
}

type batchSeen struct {
	hooks  []string
	frames int
	last   context.Context
}

func (p *batchPlugin) saw(ctx context.Context, hook string, t *sdk.Txn, rcpt string) (sdk.Verdict, error) {
	id := t.Session.ID
	p.mu.Lock()
	s := p.seen[id]
	if s == nil {
		s = &batchSeen{}
		p.seen[id] = s
	}
	if s.last != ctx {
		s.frames++
		s.last = ctx
	}
	s.hooks = append(s.hooks, fmt.Sprintf("%s(%s|%s|%s)", hook, t.Session.Helo, t.Envelope.MailFrom, rcpt))
	p.mu.Unlock()
	switch {
	case strings.Contains(id, "reject@"+hook):
		return sdk.Reject(550, "5.7.1", "no "+t.Session.Helo), nil
	case strings.Contains(id, "edit@"+hook):
		return sdk.Continue(sdk.SetSender{Addr: "bounces@example.org"}), nil
	case strings.Contains(id, "fail@"+hook):
		return sdk.Verdict{}, errors.New("lookup failed at " + hook)
	case strings.Contains(id, "hang@"+hook):
		<-ctx.Done()
		return sdk.Verdict{}, ctx.Err()
	}
	return sdk.Continue(), nil
}

func (p *batchPlugin) Connect(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.saw(ctx, "connect", t, "")
}

func (p *batchPlugin) Helo(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.saw(ctx, "helo", t, "")
}

func (p *batchPlugin) Mail(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.saw(ctx, "mail", t, "")
}

func (p *batchPlugin) Rcpt(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	return p.saw(ctx, "rcpt", t, r.Addr)
}

func (p *batchPlugin) Deliver(_ context.Context, t *sdk.Txn, _ sdk.Recipient) (sdk.Verdict, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen[t.Session.ID]
	if s == nil {
		s = &batchSeen{}
	}
	return sdk.Verdict{Reason: fmt.Sprintf("%s frames=%d", strings.Join(s.hooks, " "), s.frames)}, nil
}

// startBatch starts the batch plugin in a process of its own, called over
// transport tr: "direct", "channel" or "rpc".
func startBatch(t *testing.T, tr string) *sdk.Client { return startOver(t, "batch", tr) }

// startOver starts the test plugin in mode (servePluginEnv) in a process
// of its own, called over transport tr: "direct", "channel" or "rpc".
func startOver(t *testing.T, mode, tr string) *sdk.Client {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), servePluginEnv+"="+mode)
	cfg := sdk.ClientConfig(cmd)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr})
	switch tr {
	case "channel":
		cmd.ExtraFiles = nil
		cfg.Plugins = sdk.PluginSet(nil) // no direct channel
	case "rpc":
		cmd.ExtraFiles = nil
		cfg.Plugins = plugin.PluginSet{sdk.PluginKey: &sdk.GRPCPlugin{NoChannel: true}}
	}
	pc := plugin.NewClient(cfg)
	t.Cleanup(pc.Kill)
	c, err := sdk.Dispense(pc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Init(context.Background(), mode, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := c.Transport(); got != tr {
		t.Fatalf("transport %q, want %q", got, tr)
	}
	return c
}

// batchCalls is connect, helo, mail and rcpt of session id, each with the
// transaction as it was at that hook.
func batchCalls(id string) []sdk.HookCall {
	sess := sdk.Session{ID: id, ClientIP: "192.0.2.7"}
	connect := &sdk.Txn{Session: sess}
	sess.Helo = "mx.example.net"
	helo := &sdk.Txn{Session: sess}
	mail := &sdk.Txn{Session: sess, Envelope: sdk.Envelope{MailFrom: "alice@example.org"}}
	return []sdk.HookCall{
		{Hook: sdk.HookConnect, Txn: connect},
		{Hook: sdk.HookHelo, Txn: helo},
		{Hook: sdk.HookMail, Txn: mail},
		{Hook: sdk.HookRcpt, Txn: mail, Rcpt: &sdk.Recipient{Addr: "bob@example.org"}},
	}
}

// What the plugin records for each of batchCalls.
var batchSaw = []string{
	"connect(||)",
	"helo(mx.example.net||)",
	"mail(mx.example.net|alice@example.org|)",
	"rcpt(mx.example.net|alice@example.org|bob@example.org)",
}

// sawInSession is the plugin's record of session id.
func sawInSession(t *testing.T, c *sdk.Client, id string) string {
	t.Helper()
	v, err := c.Hook(context.Background(), sdk.HookDeliver, &sdk.Txn{Session: sdk.Session{ID: id}}, &sdk.Recipient{Addr: "x@example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.Reason
}

// A batch runs its calls in order, in one frame over the direct channel
// and the Channel stream and one call at a time over rpc, and stops where
// a verdict is not a plain Continue.
func TestHooksBatch(t *testing.T) {
	for _, tr := range []string{"direct", "channel", "rpc"} {
		t.Run(tr, func(t *testing.T) {
			c := startBatch(t, tr)
			if got, want := c.Batches(), tr != "rpc"; got != want {
				t.Fatalf("Batches() = %v, want %v", got, want)
			}
			// The plugin counts frames by their contexts. Without a
			// deadline every call on the direct channel would have the
			// same one; with it each frame's is its own.
			run := func(id string) ([]sdk.Verdict, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return c.Hooks(ctx, batchCalls(id))
			}
			// record is what the plugin should have seen of the first n
			// calls: in one frame, or one frame per call over rpc.
			record := func(n int) string {
				frames := 1
				if tr == "rpc" {
					frames = n
				}
				return fmt.Sprintf("%s frames=%d", strings.Join(batchSaw[:n], " "), frames)
			}

			vs, err := run("all")
			if err != nil {
				t.Fatal(err)
			}
			if want := []sdk.Verdict{{}, {}, {}, {}}; !reflect.DeepEqual(vs, want) {
				t.Errorf("verdicts %+v, want 4 Continues", vs)
			}
			if got, want := sawInSession(t, c, "all"), record(4); got != want {
				t.Errorf("plugin saw %q, want %q", got, want)
			}

			vs, err = run("reject@helo")
			if err != nil {
				t.Fatal(err)
			}
			if want := []sdk.Verdict{{}, sdk.Reject(550, "5.7.1", "no mx.example.net")}; !reflect.DeepEqual(vs, want) {
				t.Errorf("reject at helo: verdicts %+v, want %+v", vs, want)
			}
			if got, want := sawInSession(t, c, "reject@helo"), record(2); got != want {
				t.Errorf("reject at helo: plugin saw %q, want %q", got, want)
			}

			vs, err = run("edit@mail")
			if err != nil {
				t.Fatal(err)
			}
			if want := []sdk.Verdict{{}, {}, sdk.Continue(sdk.SetSender{Addr: "bounces@example.org"})}; !reflect.DeepEqual(vs, want) {
				t.Errorf("edit at mail: verdicts %+v, want %+v", vs, want)
			}
			if got, want := sawInSession(t, c, "edit@mail"), record(3); got != want {
				t.Errorf("edit at mail: plugin saw %q, want %q", got, want)
			}

			// A call that fails stops the batch, and the error says which:
			// the calls before it keep their verdicts.
			vs, err = run("fail@mail")
			var ce *sdk.BatchCallError
			if !errors.As(err, &ce) || ce.Index != 2 || ce.Hook != sdk.HookMail || !strings.Contains(err.Error(), "lookup failed at mail") {
				t.Errorf("fail at mail: err = %#v (%v), want the plugin's error at call 2 (mail)", err, err)
			}
			if want := []sdk.Verdict{{}, {}}; !reflect.DeepEqual(vs, want) {
				t.Errorf("fail at mail: verdicts %+v, want connect's and helo's Continues", vs)
			}

			// Calls that fit a frame each but not together: a batch over
			// the frame limit fails before it is sent; one at a time they
			// go. (Their sessions differ, so the batch carries each.)
			big := batchCalls("big")
			for i, hc := range big[:3] {
				hc.Txn.Session.ClientName = strings.Repeat(string(rune('a'+i)), sdk.MaxFrameSize/3)
			}
			vs, err = c.Hooks(context.Background(), big)
			if tr == "rpc" {
				if err != nil || len(vs) != 4 {
					t.Errorf("large calls one at a time: %d verdicts, %v", len(vs), err)
				}
			} else if !errors.Is(err, sdk.ErrFrameTooLarge) {
				t.Errorf("batch over the frame limit: err = %v", err)
			}
			if vs, err := run("after big"); err != nil || len(vs) != 4 {
				t.Errorf("batch after a large one: %d verdicts, %v", len(vs), err)
			}
		})
	}
}

// Auth, data, bounce and deliver cannot be batched: such a batch fails
// before anything reaches the plugin.
func TestHooksBatchRefusesOtherHooks(t *testing.T) {
	c := startBatch(t, "direct")
	for _, h := range []sdk.Hook{sdk.HookAuth, sdk.HookData, sdk.HookBounce, sdk.HookDeliver} {
		id := "refused-" + string(h)
		calls := batchCalls(id)
		calls = append(calls[:2], sdk.HookCall{Hook: h, Txn: calls[2].Txn, Rcpt: &sdk.Recipient{Addr: "b@example.org"}})
		if _, err := c.Hooks(context.Background(), calls); err == nil || !strings.Contains(err.Error(), "cannot be batched") {
			t.Errorf("batch with %s: err = %v, want a refusal", h, err)
		}
		if got := sawInSession(t, c, id); got != " frames=0" {
			t.Errorf("batch with %s: plugin saw %q, want nothing", h, got)
		}
	}
	if _, err := c.Hooks(context.Background(), nil); err == nil {
		t.Error("empty batch: no error")
	}
}

// A deadline shorter than a hung hook in a batch fails that call, the
// calls before it keep their verdicts, and the plugin keeps serving.
//
// The plugin answers a tenth of the time left before the deadline, at most
// 250 ms (answerBefore): with 300 ms that left 30 ms for the answer to
// reach the core, which a loaded machine (make test's packages side by
// side) sometimes missed; 1 s leaves the full 100 ms.
func TestHooksBatchTimeout(t *testing.T) {
	for _, tr := range []string{"direct", "channel", "rpc"} {
		t.Run(tr, func(t *testing.T) {
			c := startBatch(t, tr)
			for _, tc := range []struct {
				name string
				ctx  func() (context.Context, context.CancelFunc)
			}{
				{"WithTimeout", func() (context.Context, context.CancelFunc) {
					return context.WithTimeout(context.Background(), time.Second)
				}},
				{"WithCallTimeout", func() (context.Context, context.CancelFunc) {
					return sdk.WithCallTimeout(context.Background(), time.Second)
				}},
			} {
				id := "hang@rcpt " + tc.name
				ctx, cancel := tc.ctx()
				start := time.Now()
				vs, err := c.Hooks(ctx, batchCalls(id))
				cancel()
				var ce *sdk.BatchCallError
				if !errors.As(err, &ce) || ce.Hook != sdk.HookRcpt || !strings.Contains(strings.ToLower(err.Error()), "deadline") {
					t.Fatalf("%s: hung rcpt: err = %v, want a deadline at the rcpt call", tc.name, err)
				}
				if len(vs) != 3 {
					t.Errorf("%s: hung rcpt: %d verdicts, want the 3 calls before it", tc.name, len(vs))
				}
				if el := time.Since(start); el > 10*time.Second {
					t.Errorf("%s: hung batch failed after %v, want its 1s deadline", tc.name, el)
				}
				if got := sawInSession(t, c, id); !strings.HasPrefix(got, strings.Join(batchSaw, " ")) {
					t.Errorf("%s: plugin saw %q, want all four hooks", tc.name, got)
				}
				vs, err = c.Hooks(context.Background(), batchCalls("after "+tc.name))
				if err != nil || len(vs) != 4 {
					t.Fatalf("%s: batch after the timeout: %+v, %v", tc.name, vs, err)
				}
			}
		})
	}
}
