package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// outcomeStage is a stage told outcomes: each call sends its outcome's
// queue id on told, then waits for release (closed: no wait).
type outcomeStage struct {
	goStage
	told    chan string
	release chan struct{}
	declare bool
}

func (o *outcomeStage) Open(context.Context, *sdk.Session) (Conn, error) { return o, nil }
func (o *outcomeStage) Declares(h sdk.Hook) bool                         { return o.declare && h == sdk.HookOutcome }
func (o *outcomeStage) Outcome(ctx context.Context, t *sdk.Txn, _ sdk.Outcome) error {
	o.told <- t.Envelope.QueueID
	select {
	case <-o.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newOutcomeStage(declare bool) *outcomeStage {
	return &outcomeStage{goStage: goStage{hooks: map[sdk.Hook]bool{}}, told: make(chan string, 2*maxOutcomeQueue),
		release: make(chan struct{}), declare: declare}
}

// syncBuffer is a log sink safe for the background calls' lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Outcome returns at once whatever the stage does: a stage that does not
// answer takes maxOutcomeCalls calls and maxOutcomeQueue waiting
// notifications; the next are dropped, counted (Status, the observer's
// "dropped") and warned of once a minute, not once each. Once the stage
// answers, every queued one is told. A stage that does not declare the
// hook is never asked.
func TestOutcomeQueueBounded(t *testing.T) {
	var logBuf syncBuffer
	slow, other := newOutcomeStage(true), newOutcomeStage(false)
	p := New(slog.New(slog.NewTextHandler(&logBuf, nil)),
		StageConfig{Name: "slow", Stage: slow, Timeout: time.Minute}, sc("other", other))
	now := time.Unix(1e9, 0)
	var mu sync.Mutex
	p.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dropped := 0
	p.SetObserver(func(stage string, hook sdk.Hook, verdict string, _ time.Duration, _ bool) {
		if hook == sdk.HookOutcome && verdict == "dropped" {
			mu.Lock()
			dropped++
			mu.Unlock()
		}
	})
	if !p.DeclaresOutcome() {
		t.Fatal("DeclaresOutcome false")
	}
	call := func(id string) OutcomeCall { return OutcomeCall{Env: sdk.Envelope{QueueID: id}} }
	// The calls in flight first, so that the queue's count is known.
	for i := 0; i < maxOutcomeCalls; i++ {
		p.Outcome(call("running"))
		select {
		case <-slow.told:
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d not made", i)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < maxOutcomeQueue+10; i++ {
			p.Outcome(call("queued"))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Outcome blocked on a stage that does not answer")
	}
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	p.Outcome(call("queued")) // within the minute: counted, not warned
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	p.Outcome(call("queued")) // a minute on: warned, with the count since
	if got := p.Status()[0].OutcomeDropped; got != 12 {
		t.Errorf("OutcomeDropped %d, want 12", got)
	}
	mu.Lock()
	if dropped != 12 {
		t.Errorf("observer saw %d dropped, want 12", dropped)
	}
	mu.Unlock()
	if n := strings.Count(logBuf.String(), "outcome notifications dropped"); n != 2 {
		t.Errorf("%d warnings, want 2 (the first drop, then one a minute):\n%s", n, logBuf.String())
	}
	if !strings.Contains(logBuf.String(), "dropped=11") {
		t.Errorf("the second warning does not count the drops since the first:\n%s", logBuf.String())
	}
	close(slow.release)
	for i := 0; i < maxOutcomeQueue; i++ {
		select {
		case id := <-slow.told:
			if id != "queued" {
				t.Fatalf("told %q", id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of the queued notifications told", i)
		}
	}
	if len(other.told) != 0 {
		t.Error("a stage that does not declare the hook was told")
	}
	if calls := p.Status()[0].Calls; calls > int64(maxOutcomeCalls+maxOutcomeQueue) {
		t.Errorf("%d calls counted", calls)
	}
}

// A notification carries the message's envelope, its notes as queued
// (Session.Notes and Txn.Notes) and the outcome; a failing call is
// logged, counted as an error, and changes nothing else.
func TestOutcomeCallCarriesNotes(t *testing.T) {
	var logBuf syncBuffer
	got := make(chan *sdk.Txn, 1)
	g := &goStage{hooks: map[sdk.Hook]bool{}}
	st := &txnOutcomeStage{goStage: g, got: got}
	p := New(slog.New(slog.NewTextHandler(&logBuf, nil)), sc("s", st))
	ended := make(chan string, 1)
	p.SetObserver(func(_ string, hook sdk.Hook, verdict string, _ time.Duration, failed bool) {
		if hook == sdk.HookOutcome && failed {
			ended <- verdict
		}
	})
	p.Outcome(OutcomeCall{Env: sdk.Envelope{MailFrom: "a@example.org", QueueID: "Q1"},
		Notes:   Notes{Session: map[string]string{"client": "web"}, Txn: map[string]string{"campaign": "spring"}},
		Outcome: sdk.Outcome{Attempt: 1, Rcpts: []sdk.RecipientOutcome{{Addr: "b@example.net", Status: sdk.OutcomeDelivered}}}})
	select {
	case txn := <-got:
		if txn.Envelope.QueueID != "Q1" || txn.Envelope.MailFrom != "a@example.org" ||
			txn.Notes["campaign"] != "spring" || txn.Session.Notes["client"] != "web" || txn.Session.ID != "outcome-Q1" {
			t.Errorf("told %+v", txn)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not told")
	}
	// The call's end is counted, then observed, after it returns.
	select {
	case v := <-ended:
		if v != "error" {
			t.Errorf("observed %q", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the failed call was not observed")
	}
	if st := p.Status()[0]; st.Errors != 1 || st.Calls != 1 {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(logBuf.String(), "hook=outcome") || !strings.Contains(logBuf.String(), "id=Q1") {
		t.Errorf("failure not logged:\n%s", logBuf.String())
	}
}

type txnOutcomeStage struct {
	*goStage
	got chan *sdk.Txn
}

func (s *txnOutcomeStage) Open(context.Context, *sdk.Session) (Conn, error) { return s, nil }
func (s *txnOutcomeStage) Declares(h sdk.Hook) bool                         { return h == sdk.HookOutcome }
func (s *txnOutcomeStage) Outcome(_ context.Context, t *sdk.Txn, _ sdk.Outcome) error {
	s.got <- t
	return context.DeadlineExceeded
}

// downOutcomeStage holds each call until release, then fails it as a
// stage that has stopped does.
type downOutcomeStage struct{ *outcomeStage }

func (d *downOutcomeStage) Open(context.Context, *sdk.Session) (Conn, error) { return d, nil }
func (d *downOutcomeStage) Outcome(ctx context.Context, t *sdk.Txn, o sdk.Outcome) error {
	_ = d.outcomeStage.Outcome(ctx, t, o)
	return ErrStageDown
}

// A stage that is down (stopped at shutdown, replaced by a reload) drops
// the notifications queued for it at once, counted, with one warning:
// not one call and one "stage failed" line each.
func TestOutcomeStageDownDropsQueue(t *testing.T) {
	var logBuf syncBuffer
	st := &downOutcomeStage{newOutcomeStage(true)}
	p := New(slog.New(slog.NewTextHandler(&logBuf, nil)), StageConfig{Name: "down", Stage: st, Timeout: time.Minute})
	ended := make(chan string, 2*maxOutcomeQueue) // each call's end or drop
	p.SetObserver(func(_ string, _ sdk.Hook, verdict string, _ time.Duration, _ bool) { ended <- verdict })
	call := OutcomeCall{Env: sdk.Envelope{QueueID: "Q"}}
	for i := 0; i < maxOutcomeCalls; i++ {
		p.Outcome(call)
		select {
		case <-st.told:
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d not made", i)
		}
	}
	const queued = 100
	for i := 0; i < queued; i++ {
		p.Outcome(call)
	}
	close(st.release)
	deadline := time.After(5 * time.Second)
	for i := 0; i < maxOutcomeCalls+queued; i++ {
		select {
		case <-ended:
		case <-deadline:
			t.Fatalf("%d of %d notifications ended: %+v", i, maxOutcomeCalls+queued, p.Status()[0])
		}
	}
	if calls := p.Status()[0].Calls; calls > 2*maxOutcomeCalls {
		t.Errorf("%d calls to a stage that is down", calls)
	}
	if n := strings.Count(logBuf.String(), "stage failed"); n > 2*maxOutcomeCalls {
		t.Errorf("%d failure lines", n)
	}
	if !strings.Contains(logBuf.String(), "the stage is down") {
		t.Errorf("drop not warned:\n%s", logBuf.String())
	}
}
