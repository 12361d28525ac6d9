package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

// eachStage declares the deliver hook and answers its calls in one round
// trip (EachConn), as a plugin does, recording the size of each round
// trip. A round trip that asks about a recipient in hold waits until the
// test releases it.
type eachStage struct {
	declaring
	answer func(r *sdk.Recipient) (sdk.Verdict, error)
	// fail, when set, is every round trip's error (the plugin died).
	fail error

	mu      sync.Mutex
	trips   [][]string // the recipients of each round trip
	hold    map[string]chan struct{}
	entered chan string // a round trip holding on a recipient started
}

func newEachStage() *eachStage {
	return &eachStage{
		declaring: declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true}}},
		hold:      map[string]chan struct{}{},
		entered:   make(chan string, 16),
	}
}

func (s *eachStage) Open(context.Context, *sdk.Session) (Conn, error) { return s, nil }

func (s *eachStage) HookEach(ctx context.Context, calls []sdk.HookCall) ([]sdk.Verdict, []error, error) {
	var addrs []string
	var wait []chan struct{}
	s.mu.Lock()
	for _, c := range calls {
		addrs = append(addrs, c.Rcpt.Addr)
		if ch, ok := s.hold[c.Rcpt.Addr]; ok {
			wait = append(wait, ch)
		}
	}
	s.trips = append(s.trips, addrs)
	s.mu.Unlock()
	for _, ch := range wait {
		s.entered <- addrs[0]
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	if s.fail != nil {
		return nil, nil, s.fail
	}
	vs := make([]sdk.Verdict, len(calls))
	errs := make([]error, len(calls))
	for i, c := range calls {
		vs[i] = sdk.Continue()
		if s.answer != nil {
			vs[i], errs[i] = s.answer(c.Rcpt)
		}
	}
	return vs, errs, nil
}

func (s *eachStage) tripSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []int
	for _, t := range s.trips {
		n = append(n, len(t))
	}
	return n
}

// waitPending waits (boundedly) until n callers wait for the next pass.
func waitPending(t *testing.T, p *Pipeline, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.deliverQ.mu.Lock()
		got := len(p.deliverQ.pending)
		p.deliverQ.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want %d", got, n)
		}
		runtime.Gosched()
	}
}

func deliverOne(p *Pipeline, ctx context.Context, rcpt string) <-chan Outcome {
	ch := make(chan Outcome, 1)
	go func() {
		out := p.Deliver(ctx, []DeliverCall{{Env: sdk.Envelope{QueueID: "Q-" + rcpt}, Rcpt: sdk.Recipient{Addr: rcpt}}})
		ch <- out[0].Outcome
	}()
	return ch
}

func outcomeOf(t *testing.T, ch <-chan Outcome) Outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome")
		return Outcome{}
	}
}

// fixedClock makes p's clock stand still until the test moves it.
func fixedClock(p *Pipeline) func(time.Duration) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	p.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	return func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
}

// Callers that arrive while a pass runs go through the stages together:
// one round trip per stage for all of them.
func TestDeliverGathersCallers(t *testing.T) {
	st := newEachStage()
	release := make(chan struct{})
	st.hold["first@dest.test"] = release
	p := New(slog.New(slog.DiscardHandler), sc("each", st))
	fixedClock(p)

	first := deliverOne(p, context.Background(), "first@dest.test")
	<-st.entered
	var later []<-chan Outcome
	for i := 0; i < 3; i++ {
		later = append(later, deliverOne(p, context.Background(), fmt.Sprintf("r%d@dest.test", i)))
	}
	waitPending(t, p, 3)
	close(release)
	for _, ch := range append(later, first) {
		if o := outcomeOf(t, ch); o.Action != sdk.ActionContinue || o.Reply != nil {
			t.Errorf("outcome %+v", o)
		}
	}
	if got := fmt.Sprint(st.tripSizes()); got != "[1 3]" {
		t.Errorf("round trips of %s calls, want [1 3]", got)
	}
}

// A pass held up by a slow call does not hold up callers that come once
// no pass has started for deliverSpillAfter: they start one of their own.
func TestDeliverSlowPassSpills(t *testing.T) {
	st := newEachStage()
	release := make(chan struct{})
	st.hold["slow@dest.test"] = release
	p := New(slog.New(slog.DiscardHandler), sc("each", st))
	advance := fixedClock(p)

	slow := deliverOne(p, context.Background(), "slow@dest.test")
	<-st.entered
	advance(deliverSpillAfter)
	if o := outcomeOf(t, deliverOne(p, context.Background(), "quick@dest.test")); o.Action != sdk.ActionContinue {
		t.Errorf("quick: %+v", o)
	}
	select {
	case o := <-slow:
		t.Fatalf("the slow call ended before its release: %+v", o)
	default:
	}
	close(release)
	if o := outcomeOf(t, slow); o.Action != sdk.ActionContinue {
		t.Errorf("slow: %+v", o)
	}
}

// A caller whose context ends stops waiting: its recipients are deferred.
func TestDeliverCallerGivesUp(t *testing.T) {
	st := newEachStage()
	release := make(chan struct{})
	defer close(release)
	st.hold["stuck@dest.test"] = release
	p := New(slog.New(slog.DiscardHandler), sc("each", st))
	ctx, cancel := context.WithCancel(context.Background())
	ch := deliverOne(p, ctx, "stuck@dest.test")
	<-st.entered
	cancel()
	o := outcomeOf(t, ch)
	if o.Action != sdk.ActionTempfail || o.Reply == nil || o.Reply.Code != 451 {
		t.Fatalf("outcome %+v", o)
	}
}

// A call that fails in a round trip gets its stage's on_error; the others
// of the round trip their own verdicts.
func TestDeliverEachErrorIsPerCall(t *testing.T) {
	st := newEachStage()
	st.answer = func(r *sdk.Recipient) (sdk.Verdict, error) {
		switch r.Addr {
		case "bad@dest.test":
			return sdk.Verdict{}, errors.New("lookup failed")
		case "no@dest.test":
			return sdk.Reject(550, "5.1.1", "no such user"), nil
		}
		return sdk.Continue(), nil
	}
	p := New(slog.New(slog.DiscardHandler), sc("each", st))
	env := sdk.Envelope{QueueID: "Q"}
	out := p.Deliver(context.Background(), []DeliverCall{
		{Env: env, Rcpt: sdk.Recipient{Addr: "ok@dest.test"}},
		{Env: env, Rcpt: sdk.Recipient{Addr: "bad@dest.test"}},
		{Env: env, Rcpt: sdk.Recipient{Addr: "no@dest.test"}},
	})
	if out[0].Action != sdk.ActionContinue || out[0].Reply != nil {
		t.Errorf("ok: %+v", out[0])
	}
	if out[1].Action != sdk.ActionTempfail || out[1].Reply == nil || out[1].Reply.Code != 451 {
		t.Errorf("bad (on_error tempfail): %+v", out[1])
	}
	if out[2].Reply == nil || out[2].Reply.String() != "550 5.1.1 no such user" {
		t.Errorf("no: %+v", out[2])
	}
	if got := fmt.Sprint(st.tripSizes()); got != "[3]" {
		t.Errorf("round trips of %s calls, want [3]", got)
	}
}

// A message's calls go in round trips of their own, which share its
// envelope (the SDK sends it once): a large message in several, each under
// the frame limit; messages of one call each go together.
func TestDeliverRoundTrips(t *testing.T) {
	st := newEachStage()
	p := New(slog.New(slog.DiscardHandler), sc("each", st))
	msg := func(id string, n int) []DeliverCall {
		env := sdk.Envelope{QueueID: id}
		for i := 0; i < n; i++ {
			env.Rcpts = append(env.Rcpts, sdk.Recipient{Addr: fmt.Sprintf("%s-user%04d@a-rather-long-destination-domain.test", id, i)})
		}
		calls := make([]DeliverCall, n)
		for i, r := range env.Rcpts {
			calls[i] = DeliverCall{Env: env, Rcpt: r}
		}
		return calls
	}
	var calls []DeliverCall
	for _, m := range [][]DeliverCall{msg("a", 1), msg("b", 1), msg("big", 1000), msg("c", 1), msg("three", 3)} {
		calls = append(calls, m...)
	}
	out := p.Deliver(context.Background(), calls)
	if len(out) != len(calls) {
		t.Fatalf("%d outcomes", len(out))
	}
	sizes := st.tripSizes()
	if len(sizes) < 5 || sizes[0] != 2 || sizes[len(sizes)-2] != 1 || sizes[len(sizes)-1] != 3 {
		t.Fatalf("round trips of %v calls, want [2 (a, b), big's in several, 1 (c), 3]", sizes)
	}
	big := 0
	for _, n := range sizes[1 : len(sizes)-2] {
		big += n
		if n*callSize(calls[2]) > maxDeliverFrame/2 {
			t.Errorf("a round trip of %d calls of one message (%d bytes of calls estimated)", n, n*callSize(calls[2]))
		}
	}
	if big != 1000 || len(sizes) > 10 {
		t.Errorf("big's 1000 calls in round trips %v", sizes[1:len(sizes)-2])
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, trip := range st.trips[1 : len(st.trips)-2] {
		for _, a := range trip {
			if !strings.HasPrefix(a, "big-") {
				t.Fatalf("a round trip of big's mixes in %s", a)
			}
		}
	}
}

// A round trip that fails as a whole (the plugin died) gives every call
// in it the stage's on_error: tempfail defers them all, continue lets
// them go on to the next stage.
func TestDeliverRoundTripFails(t *testing.T) {
	for _, tc := range []struct {
		onError config.OnError
		want    sdk.Action
	}{{config.OnErrorTempfail, sdk.ActionTempfail}, {config.OnErrorContinue, sdk.ActionContinue}} {
		st := newEachStage()
		st.fail = errors.New("plugin exited")
		cfg := sc("each", st)
		cfg.OnError = tc.onError
		p := New(slog.New(slog.DiscardHandler), cfg)
		env := sdk.Envelope{QueueID: "Q"}
		out := p.Deliver(context.Background(), []DeliverCall{
			{Env: env, Rcpt: sdk.Recipient{Addr: "a@dest.test"}},
			{Env: env, Rcpt: sdk.Recipient{Addr: "b@dest.test"}},
		})
		for i, o := range out {
			if o.Action != tc.want || (tc.want == sdk.ActionTempfail) != (o.Reply != nil && o.Reply.Code == 451) {
				t.Errorf("on_error %s: call %d: %+v", tc.onError, i, o)
			}
		}
	}
}
