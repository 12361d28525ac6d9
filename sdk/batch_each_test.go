package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// eachPlugin acts on each call as its directive says: the local part of
// the recipient's address when the call has one, else the session ID.
// "ok-…" continues, "reject-…", "tempfail-…", "discard-…",
// "quarantine-…" and "accept-…" answer so, "edit-…" continues setting
// the recipient's route, "fail-…" fails, "panic-…" panics, "hang-…" holds
// the call until its context ends, and "wait-N-tag-…" holds it until N
// calls of tag are inside the hook at once (or its context ends: an
// error). Every verdict's reason is "hook|session|queue id|rcpt|fN", fN
// numbering the call's context, which is its frame's. "seen-D" answers
// "yes" when a call with directive D ran, else "no".
type eachPlugin struct {
	sdk.Base
	mu       sync.Mutex
	frames   map[context.Context]int
	seen     map[string]bool
	barriers map[string]*eachBarrier
}

type eachBarrier struct {
	in   int
	full chan struct{}
}

func newEachPlugin() *eachPlugin {
	return &eachPlugin{frames: make(map[context.Context]int), seen: make(map[string]bool), barriers: make(map[string]*eachBarrier)}
}

func (p *eachPlugin) act(ctx context.Context, hook string, t *sdk.Txn, rcpt string) (sdk.Verdict, error) {
	dir := t.Session.ID
	if rcpt != "" {
		dir = rcpt[:strings.LastIndex(rcpt, "@")]
	}
	if d, ok := strings.CutPrefix(dir, "seen-"); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.seen[d] {
			return sdk.Continue().Because("yes"), nil
		}
		return sdk.Continue().Because("no"), nil
	}
	p.mu.Lock()
	p.seen[dir] = true
	f, ok := p.frames[ctx]
	if !ok {
		f = len(p.frames) + 1
		p.frames[ctx] = f
	}
	p.mu.Unlock()
	reason := fmt.Sprintf("%s|%s|%s|%s|f%d", hook, t.Session.ID, t.Envelope.QueueID, rcpt, f)
	parts := strings.Split(dir, "-")
	switch parts[0] {
	case "reject":
		return sdk.Reject(550, "5.1.1", "no "+rcpt).Because(reason), nil
	case "tempfail":
		return sdk.Tempfail(451, "4.4.1", "later").Because(reason), nil
	case "discard":
		return sdk.Discard("").Because(reason), nil
	case "quarantine":
		return sdk.Quarantine("").Because(reason), nil
	case "accept":
		return sdk.Accept().Because(reason), nil
	case "edit":
		return sdk.Continue(sdk.SetRoute{Rcpt: rcpt, Route: "relay:" + dir}).Because(reason), nil
	case "fail":
		return sdk.Verdict{}, errors.New("lookup failed for " + rcpt)
	case "panic":
		panic("boom at " + rcpt)
	case "hang":
		<-ctx.Done()
		return sdk.Verdict{}, ctx.Err()
	case "env":
		return sdk.Continue().Because(fmt.Sprintf("env|%s|%s|%d", t.Envelope.QueueID, t.Envelope.MailFrom, len(t.Envelope.Rcpts))), nil
	case "wait":
		n, _ := strconv.Atoi(parts[1])
		if err := p.wait(ctx, parts[2], n); err != nil {
			return sdk.Verdict{}, err
		}
	}
	return sdk.Continue().Because(reason), nil
}

// wait holds the call until n calls of tag are in it at once.
func (p *eachPlugin) wait(ctx context.Context, tag string, n int) error {
	p.mu.Lock()
	b := p.barriers[tag]
	if b == nil {
		b = &eachBarrier{full: make(chan struct{})}
		p.barriers[tag] = b
	}
	b.in++
	if b.in == n {
		close(b.full)
	}
	p.mu.Unlock()
	select {
	case <-b.full:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		in := b.in
		p.mu.Unlock()
		return fmt.Errorf("only %d of %d calls of %s at once", in, n, tag)
	}
}

func (p *eachPlugin) Connect(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.act(ctx, "connect", t, "")
}

func (p *eachPlugin) Helo(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.act(ctx, "helo", t, "")
}

func (p *eachPlugin) Mail(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.act(ctx, "mail", t, "")
}

func (p *eachPlugin) Rcpt(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	return p.act(ctx, "rcpt", t, r.Addr)
}

func (p *eachPlugin) Deliver(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	return p.act(ctx, "deliver", t, r.Addr)
}

// eachTransports are how HookEach reaches a plugin: in one frame over the
// direct channel or the Channel stream, and a call each over rpc or to a
// plugin built before independent batches ("old-").
var eachTransports = []string{"direct", "channel", "rpc", "old-direct", "old-channel"}

// startEach starts eachPlugin in a process of its own, called over tr:
// "direct", "channel", "rpc", or "old-direct" and "old-channel" for a
// plugin built before independent batches.
func startEach(t *testing.T, tr string) *sdk.Client {
	t.Helper()
	mode := "each"
	want, old := strings.CutPrefix(tr, "old-")
	if old {
		mode = "each-old"
	}
	c := startOver(t, mode, want)
	if got, batches := c.BatchesEach(), !old && want != "rpc"; got != batches {
		t.Fatalf("BatchesEach() = %v, want %v", got, batches)
	}
	// A plugin built before pipes gets sockets on the direct channel.
	if got, pipes := sdk.DirectPipes(c), !old && want == "direct"; got != pipes {
		t.Fatalf("DirectPipes() = %v, want %v", got, pipes)
	}
	return c
}

// delivery is a message queued for some recipients: its deliver calls
// share a transaction.
func delivery(session, queueID string, addrs ...string) []sdk.HookCall {
	txn := &sdk.Txn{Session: sdk.Session{ID: session, ClientIP: "192.0.2.7"},
		Envelope: sdk.Envelope{MailFrom: "alice@example.org", QueueID: queueID}}
	calls := make([]sdk.HookCall, len(addrs))
	for i, a := range addrs {
		calls[i] = sdk.HookCall{Hook: sdk.HookDeliver, Txn: txn, Rcpt: &sdk.Recipient{Addr: a}}
	}
	return calls
}

// callReason is the reason eachPlugin gives hc's verdict, up to its frame.
func callReason(hc sdk.HookCall) string {
	rcpt := ""
	if hc.Rcpt != nil {
		rcpt = hc.Rcpt.Addr
	}
	return fmt.Sprintf("%s|%s|%s|%s|", hc.Hook, hc.Txn.Session.ID, hc.Txn.Envelope.QueueID, rcpt)
}

// checkEach checks that each answered call's verdict is want's (reason
// aside) and came from the plugin's run of that very call, and returns
// how many frames the answered calls came in.
func checkEach(t *testing.T, calls []sdk.HookCall, vs []sdk.Verdict, errs []error, want []sdk.Verdict) int {
	t.Helper()
	if len(vs) != len(calls) || len(errs) != len(calls) {
		t.Fatalf("%d verdicts and %d errors to %d calls", len(vs), len(errs), len(calls))
	}
	frames := make(map[string]bool)
	for i, hc := range calls {
		if errs[i] != nil {
			continue
		}
		prefix := callReason(hc)
		frame, ok := strings.CutPrefix(vs[i].Reason, prefix)
		if !ok {
			t.Errorf("call %d: reason %q, want it to start %q", i, vs[i].Reason, prefix)
		}
		frames[frame] = true
		v := vs[i]
		v.Reason = ""
		if !reflect.DeepEqual(v, want[i]) {
			t.Errorf("call %d: verdict %+v, want %+v", i, v, want[i])
		}
	}
	return len(frames)
}

// seen reports whether the plugin ran a call with directive dir.
func seen(t *testing.T, c *sdk.Client, dir string) bool {
	t.Helper()
	v, err := c.Hook(context.Background(), sdk.HookDeliver, &sdk.Txn{}, &sdk.Recipient{Addr: "seen-" + dir + "@q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.Reason == "yes"
}

func tenSeconds() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// HookEach over every transport, against one plugin process each: the
// cases below in turn.
func TestHookEach(t *testing.T) {
	for _, tr := range eachTransports {
		t.Run(tr, func(t *testing.T) {
			c := startEach(t, tr)
			for _, tc := range []struct {
				name string
				run  func(*testing.T, *sdk.Client)
			}{
				{"continue", eachContinue},
				{"shared envelope", eachSharedEnvelope},
				{"mixed verdicts", eachMixedVerdicts},
				{"call errors", eachCallErrors},
				{"concurrent", eachConcurrent},
				{"timeout", eachTimeout},
				{"over the frame limit", eachOverFrameLimit},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, c) })
			}
		})
	}
}

// Independent calls — deliver hooks of several messages, and the
// envelope hooks — each get their own verdict, in one frame when the
// plugin serves independent batches and a frame each when not.
func eachContinue(t *testing.T, c *sdk.Client) {
	batches := c.BatchesEach()
	ctx, cancel := tenSeconds()
	defer cancel()

	// Messages Q1 and Q3 have equal sessions, which the batch
	// sends once; Q2 has its own.
	calls := delivery("s1", "Q1", "ok-1@a.example", "ok-2@b.example")
	calls = append(calls, delivery("s2", "Q2", "ok-3@c.example")...)
	calls = append(calls, delivery("s1", "Q3", "ok-4@d.example")...)
	env := &sdk.Txn{Session: sdk.Session{ID: "ok-env", Helo: "mx.example.net"}, Envelope: sdk.Envelope{MailFrom: "bob@example.org"}}
	calls = append(calls,
		sdk.HookCall{Hook: sdk.HookConnect, Txn: &sdk.Txn{Session: sdk.Session{ID: "ok-connect"}}},
		sdk.HookCall{Hook: sdk.HookHelo, Txn: env},
		sdk.HookCall{Hook: sdk.HookMail, Txn: env},
		sdk.HookCall{Hook: sdk.HookRcpt, Txn: env, Rcpt: &sdk.Recipient{Addr: "ok-r@e.example"}})
	vs, errs, err := c.HookEach(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("call %d: %v", i, e)
		}
	}
	frames := checkEach(t, calls, vs, errs, make([]sdk.Verdict, len(calls)))
	want := len(calls) // a call each
	if batches {
		want = 1
	}
	if frames != want {
		t.Errorf("calls came in %d frames, want %d", frames, want)
	}
}

// The deliver calls of one message share its envelope, which goes once
// in the frame: each call still sees the whole of its own message's, in
// either order of the messages.
func eachSharedEnvelope(t *testing.T, c *sdk.Client) {
	ctx, cancel := tenSeconds()
	defer cancel()
	msg := func(id, from string, addrs ...string) []sdk.HookCall {
		txn := &sdk.Txn{Session: sdk.Session{ID: "deliver-" + id}, Envelope: sdk.Envelope{MailFrom: from, QueueID: id}}
		for _, a := range addrs {
			txn.Envelope.Rcpts = append(txn.Envelope.Rcpts, sdk.Recipient{Addr: a})
		}
		calls := make([]sdk.HookCall, len(addrs))
		for i := range addrs {
			calls[i] = sdk.HookCall{Hook: sdk.HookDeliver, Txn: txn, Rcpt: &txn.Envelope.Rcpts[i]}
		}
		return calls
	}
	big := msg("QA", "a@example.org", "env-1@a.example", "env-2@a.example", "env-3@a.example")
	small := msg("QB", "b@example.org", "env-9@b.example")
	for _, calls := range [][]sdk.HookCall{append(append([]sdk.HookCall(nil), small...), big...), append(append([]sdk.HookCall(nil), big...), small...)} {
		vs, errs, err := c.HookEach(ctx, calls)
		if err != nil {
			t.Fatal(err)
		}
		for i, hc := range calls {
			want := fmt.Sprintf("env|%s|%s|%d", hc.Txn.Envelope.QueueID, hc.Txn.Envelope.MailFrom, len(hc.Txn.Envelope.Rcpts))
			if errs[i] != nil || vs[i].Reason != want {
				t.Errorf("call %d (%s): %q, %v; want %q", i, hc.Rcpt.Addr, vs[i].Reason, errs[i], want)
			}
		}
	}
}

// Verdicts of every kind each reach their own call: no verdict stops the
// others, as one would a stop-mode batch.
func eachMixedVerdicts(t *testing.T, c *sdk.Client) {
	ctx, cancel := tenSeconds()
	defer cancel()
	calls := delivery("s1", "Q1", "reject-1@a.example", "ok-2@a.example", "discard-3@a.example")
	calls = append(calls, delivery("s2", "Q2", "tempfail-4@b.example", "edit-5@b.example", "quarantine-6@b.example", "accept-7@b.example", "ok-8@b.example")...)
	want := []sdk.Verdict{
		sdk.Reject(550, "5.1.1", "no reject-1@a.example"),
		{},
		{Action: sdk.ActionDiscard},
		sdk.Tempfail(451, "4.4.1", "later"),
		sdk.Continue(sdk.SetRoute{Rcpt: "edit-5@b.example", Route: "relay:edit-5"}),
		{Action: sdk.ActionQuarantine},
		sdk.Accept(),
		{},
	}
	vs, errs, err := c.HookEach(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("call %d: %v", i, e)
		}
	}
	checkEach(t, calls, vs, errs, want)
}

// A call whose hook fails or panics gets that error; the others their
// verdicts, and the plugin serves on.
func eachCallErrors(t *testing.T, c *sdk.Client) {
	ctx, cancel := tenSeconds()
	defer cancel()
	calls := delivery("s1", "Q1", "ok-1@a.example", "fail-2@a.example", "ok-3@a.example")
	calls = append(calls, delivery("s2", "Q2", "panic-4@b.example", "reject-5@b.example")...)
	want := []sdk.Verdict{{}, {}, {}, {}, sdk.Reject(550, "5.1.1", "no reject-5@b.example")}
	vs, errs, err := c.HookEach(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	checkEach(t, calls, vs, errs, want)
	for i, e := range errs {
		switch i {
		case 1:
			if e == nil || !strings.HasPrefix(e.Error(), "sdk: deliver hook: ") || !strings.Contains(e.Error(), "lookup failed for fail-2@a.example") {
				t.Errorf("failing call: err = %v, want the plugin's error", e)
			}
		case 3:
			if e == nil || !strings.HasPrefix(e.Error(), "sdk: deliver hook: ") || !strings.Contains(e.Error(), "boom at panic-4@b.example") {
				t.Errorf("panicking call: err = %v, want the panic", e)
			}
		default:
			if e != nil {
				t.Errorf("call %d: %v", i, e)
			}
		}
		if e != nil && !reflect.DeepEqual(vs[i], sdk.Verdict{}) {
			t.Errorf("call %d failed, yet has verdict %+v", i, vs[i])
		}
	}
	if c.BatchesEach() && !strings.HasPrefix(errs[1].Error(), "sdk: deliver hook: plugin: ") {
		t.Errorf("batched call's error %q, want it to start with %q", errs[1], "sdk: deliver hook: plugin: ")
	}
	vs, errs, err = c.HookEach(ctx, delivery("s3", "Q3", "ok-after@c.example"))
	if err != nil || errs[0] != nil || !strings.HasPrefix(vs[0].Reason, "deliver|s3|Q3|") {
		t.Errorf("after the failures: %+v, %v, %v", vs, errs, err)
	}
}

// The plugin runs the calls at once: each holds its hook until all are
// inside it, which calls run one after another never are (they fail at
// the deadline instead).
func eachConcurrent(t *testing.T, c *sdk.Client) {
	ctx, cancel := tenSeconds()
	defer cancel()
	const n = 6
	var addrs []string
	for i := range n {
		addrs = append(addrs, fmt.Sprintf("wait-%d-tag-%d@a.example", n, i))
	}
	calls := delivery("s1", "Q1", addrs[:n/2]...)
	calls = append(calls, delivery("s2", "Q2", addrs[n/2:]...)...)
	vs, errs, err := c.HookEach(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("call %d: %v", i, e)
		}
	}
	checkEach(t, calls, vs, errs, make([]sdk.Verdict, n))
}

// A call that hangs past the deadline fails alone, on every transport:
// the calls beside it keep their verdicts (an independent batch answers
// them just before the deadline), and the plugin serves on.
func eachTimeout(t *testing.T, c *sdk.Client) {
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
		ctx, cancel := tc.ctx()
		start := time.Now()
		calls := delivery("s1", "Q-"+tc.name, "ok-1@a.example", "hang-2@a.example", "ok-3@a.example")
		vs, errs, err := c.HookEach(ctx, calls)
		cancel()
		// The hung call fails alone; the others keep their verdicts.
		if err != nil || errs[1] == nil || !strings.Contains(strings.ToLower(errs[1].Error()), "deadline") {
			t.Fatalf("%s: hung call: %+v, %v, err = %v; want its own deadline error", tc.name, vs, errs, err)
		}
		for _, i := range []int{0, 2} {
			if errs[i] != nil || !strings.HasPrefix(vs[i].Reason, "deliver|s1|Q-"+tc.name+"|") {
				t.Errorf("%s: call %d beside the hung one: %+v, %v", tc.name, i, vs[i], errs[i])
			}
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("%s: failed after %v, want its 1s deadline", tc.name, el)
		}
		ctx, cancel = tenSeconds()
		vs, errs, err = c.HookEach(ctx, delivery("s1", "Q-after", "ok-4@a.example", "ok-5@a.example"))
		cancel()
		if err != nil || errs[0] != nil || errs[1] != nil || !strings.HasPrefix(vs[1].Reason, "deliver|s1|Q-after|ok-5@a.example|") {
			t.Fatalf("%s: after the timeout: %+v, %v, %v", tc.name, vs, errs, err)
		}
	}
}

// Calls that fit a frame each but not together are split over frames;
// a call too large for any frame fails alone, with ErrFrameTooLarge.
func eachOverFrameLimit(t *testing.T, c *sdk.Client) {
	ctx, cancel := tenSeconds()
	defer cancel()
	var calls []sdk.HookCall
	for i := range 5 {
		hc := delivery(fmt.Sprintf("s%d", i), fmt.Sprintf("Q%d", i), fmt.Sprintf("ok-%d@a.example", i))[0]
		size := sdk.MaxFrameSize / 3
		if i == 2 {
			size = sdk.MaxFrameSize + 1
		}
		hc.Txn.Session.ClientName = strings.Repeat(string(rune('a'+i)), size)
		calls = append(calls, hc)
	}
	vs, errs, err := c.HookEach(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if i == 2 {
			if !errors.Is(e, sdk.ErrFrameTooLarge) {
				t.Errorf("call too large for a frame: err = %v, want ErrFrameTooLarge", e)
			}
		} else if e != nil {
			t.Errorf("call %d: %v", i, e)
		}
	}
	checkEach(t, calls, vs, errs, make([]sdk.Verdict, len(calls)))
}

// Hooks that cannot be in an independent batch, and calls without what
// their hook needs, fail the whole batch before any call reaches the
// plugin.
func TestHookEachRefuses(t *testing.T) {
	c := startEach(t, "direct")
	ctx, cancel := tenSeconds()
	defer cancel()
	for _, h := range []sdk.Hook{sdk.HookAuth, sdk.HookData, sdk.HookBounce} {
		dir := "ok-refused-" + string(h)
		calls := delivery("s1", "Q1", dir+"@a.example")
		calls = append(calls, sdk.HookCall{Hook: h, Txn: calls[0].Txn, Rcpt: &sdk.Recipient{Addr: "b@example.org"}})
		vs, errs, err := c.HookEach(ctx, calls)
		if err == nil || !strings.Contains(err.Error(), "cannot be batched") || vs != nil || errs != nil {
			t.Errorf("batch with %s: %v, %v, err = %v; want a refusal", h, vs, errs, err)
		}
		if seen(t, c, dir) {
			t.Errorf("batch with %s: the plugin ran its deliver call", h)
		}
	}
	calls := delivery("s1", "Q1", "ok-norcpt@a.example")
	calls = append(calls, sdk.HookCall{Hook: sdk.HookDeliver, Txn: calls[0].Txn})
	if _, _, err := c.HookEach(ctx, calls); err == nil || !strings.Contains(err.Error(), "no recipient") {
		t.Errorf("deliver without its recipient: err = %v", err)
	}
	calls = append(calls[:1], sdk.HookCall{Hook: sdk.HookMail})
	if _, _, err := c.HookEach(ctx, calls); err == nil || !strings.Contains(err.Error(), "nil transaction") {
		t.Errorf("call without its transaction: err = %v", err)
	}
	if seen(t, c, "ok-norcpt") {
		t.Error("the plugin ran a call of a refused batch")
	}
	if vs, errs, err := c.HookEach(ctx, nil); vs != nil || errs != nil || err != nil {
		t.Errorf("no calls: %v, %v, %v; want nothing", vs, errs, err)
	}
	// The sanity of seen itself: a call that ran was seen.
	if _, _, err := c.HookEach(ctx, delivery("s1", "Q1", "ok-ran@a.example")); err != nil || !seen(t, c, "ok-ran") {
		t.Errorf("a call that ran was not seen (err %v)", err)
	}
}
