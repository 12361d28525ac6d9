package delivery

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// A reload replaces the agent with its Successor and retires the old one:
// the attempt in flight finishes on the old settings, once, while mail
// that comes after goes by the new ones (here a relay), and the successor
// never starts a second attempt of the message still in flight. The
// retired agent's Run returns once its attempt has ended.
func TestSuccessorTakesOverWhileRetiredAgentFinishes(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t)
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2")
	one := h.sinkAt("127.0.0.2", sinkOptions{dataGate: gate})
	relay := h.sinkAt("127.0.0.3", sinkOptions{})
	h.start()
	old := h.agent
	first := h.enqueue(msg("s@origin.test", "a@one.test"))
	waitInData(t, one)

	opt := h.opt
	opt.Config.Relay = net.JoinHostPort("127.0.0.3", strconv.Itoa(h.port))
	next := old.Successor(opt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nextDone := make(chan error, 1)
	go func() { nextDone <- next.Run(ctx) }()
	oldDone := make(chan struct{})
	go func() {
		// The harness's own Run of old returns by itself once retired;
		// the claim on first is let go once its outcome is recorded.
		if old.busy.wait(context.Background(), first, waitLimit) {
			old.busy.release(first)
			close(oldDone)
		}
	}()
	old.Retire()

	second := h.enqueue(msg("s@origin.test", "b@two.test"))
	if got := waitMsg(t, relay); len(got.rcpts) != 1 || got.rcpts[0] != "b@two.test" {
		t.Fatalf("the relay got %q, want b@two.test: mail after the reload takes the new relay", got.rcpts)
	}
	next.Kick() // the message in flight is due to no one but its attempt
	close(gate)
	if got := waitMsg(t, one); got.rcpts[0] != "a@one.test" {
		t.Fatalf("one.test got %q", got.rcpts)
	}
	select {
	case <-oldDone:
	case <-time.After(waitLimit):
		t.Fatal("the retired agent's attempt did not end")
	}
	// Claims are shared: this waits for whichever agent has second.
	if !next.busy.wait(context.Background(), second, waitLimit) {
		t.Fatal("the attempt of the second message did not end")
	}
	next.busy.release(second)
	for _, id := range []string{first, second} {
		if !h.gone(id) {
			t.Errorf("%s still queued after its delivery", id)
		}
	}
	if n := len(one.messages()); n != 1 {
		t.Errorf("one.test got %d messages, want 1: the successor attempted the message in flight", n)
	}
	if n := len(relay.messages()); n != 1 {
		t.Errorf("the relay got %d messages, want 1", n)
	}
	cancel()
	if err := <-nextDone; err != nil {
		t.Fatal(err)
	}
}

// dueWatch is a real queue that tells each Due call on due and, when
// retireIn holds an agent, retires it inside the next Due: a reload that
// lands while Run is between its wait and its dispatch.
type dueWatch struct {
	*watchedQueue
	due      chan struct{}
	retireIn atomic.Pointer[Agent]
	// With holdWrites set, the next write returns only once a Due that
	// began after it has returned: the scheduler has looked at the queue
	// as the write left it while the writer still holds its claim. The
	// look is made to happen: from then on the agents are woken through
	// notify alone, once after the write (the store's own wake-up could
	// come before the write returned, or after the claim's release).
	holdWrites atomic.Bool
	dues       atomic.Int64 // Due calls begun
	lookedFrom atomic.Int64 // the number of the last Due call to return
	looked     chan struct{}
	notify     chan struct{}
	ownNotify  atomic.Bool
}

func (q *dueWatch) Notify() <-chan struct{} {
	if q.ownNotify.Load() {
		return q.notify
	}
	return q.watchedQueue.Notify()
}

func (q *dueWatch) Due(now time.Time, limit int, skip func(string) bool) ([]string, time.Time, error) {
	if a := q.retireIn.Swap(nil); a != nil {
		a.Retire()
	}
	n := q.dues.Add(1)
	ids, next, err := q.watchedQueue.Due(now, limit, skip)
	q.lookedFrom.Store(n)
	select {
	case q.due <- struct{}{}:
	default:
	}
	if q.looked != nil {
		select {
		case q.looked <- struct{}{}:
		default:
		}
	}
	return ids, next, err
}

func (q *dueWatch) Modify(id string, fn func(*envelope.Message) error) (*envelope.Message, error) {
	m, err := q.watchedQueue.Modify(id, fn)
	q.afterWrite()
	return m, err
}

func (q *dueWatch) ModifyEnqueue(id string, fn func(*envelope.Message) ([]queue.Queued, error)) (*envelope.Message, error) {
	m, err := q.watchedQueue.ModifyEnqueue(id, fn)
	q.afterWrite()
	return m, err
}

func (q *dueWatch) afterWrite() {
	if !q.holdWrites.CompareAndSwap(true, false) {
		return
	}
	after := q.dues.Load()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	limit := time.After(waitLimit)
	for q.lookedFrom.Load() <= after {
		select {
		case <-q.looked:
		case <-limit:
			return // the test's own wait reports it
		}
	}
}

// An attempt the retired agent still runs ends deferred: the successor,
// which skipped the message while it was claimed, tries it again at its
// retry time. It did not learn of the retry, and with no other mail the
// message waited for the next kick (days on a quiet relay). The retry is
// due at once on the injected clock, and the deferral's write returns only
// after the successor has looked (and skipped the still-claimed message):
// only the retired agent's wake-up can start the retry.
func TestSuccessorRetriesWhatTheRetiredAgentDeferred(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t)
	h.opt.Config.Retry = []config.Duration{{Duration: 0}}
	h.opt.Config.Jitter = 0
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2")
	one := h.sinkAt("127.0.0.2", sinkOptions{dataGate: gate, data: func(n int) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}})
	q := &dueWatch{watchedQueue: h.q, due: make(chan struct{}, 1), looked: make(chan struct{}, 1), notify: make(chan struct{}, 1)}
	old := New(q, h.opt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	oldDone := make(chan error, 1)
	go func() { oldDone <- old.Run(ctx) }()
	h.enqueue(msg("s@origin.test", "a@one.test"))
	waitInData(t, one)

	next := old.Successor(h.opt)
	<-q.due // drain the old agent's
	nextDone := make(chan error, 1)
	go func() { nextDone <- next.Run(ctx) }()
	old.Retire()
	select { // the successor has looked, and skipped the claimed message
	case <-q.due:
	case <-time.After(waitLimit):
		t.Fatal("the successor never asked the queue")
	}
	q.ownNotify.Store(true)
	q.holdWrites.Store(true)
	close(gate)
	got := waitMsg(t, one) // the second DATA: the successor's retry
	if len(got.rcpts) != 1 || got.rcpts[0] != "a@one.test" {
		t.Fatalf("retry delivered %q", got.rcpts)
	}
	select {
	case <-oldDone: // and the retired agent's Run returned by itself
	case <-time.After(waitLimit):
		t.Fatal("the retired agent's Run did not return")
	}
	cancel()
	<-nextDone
}

// A Retire that lands while Run is about to dispatch (inside Due) starts
// nothing more on the old settings: the message Due returned is left to
// the successor, and Run returns.
func TestRetiredAgentDispatchesNothing(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2")
	one := h.sinkAt("127.0.0.2", sinkOptions{})
	q := &dueWatch{watchedQueue: h.q, due: make(chan struct{}, 1)}
	a := New(q, h.opt)
	q.retireIn.Store(a)
	id := h.enqueue(msg("s@origin.test", "a@one.test"))
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the retired agent's Run did not return")
	}
	if n := len(one.messages()); n != 0 {
		t.Errorf("the retired agent delivered %d message(s) after Retire", n)
	}
	if a.busy.held(id) || h.gone(id) {
		t.Errorf("%s claimed or gone after the retired agent returned", id)
	}
}
