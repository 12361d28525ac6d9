package delivery

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// waitInData waits until s is inside DATA (its dataGate holds it there).
func waitInData(t *testing.T, s *sink) {
	t.Helper()
	select {
	case <-s.inData:
	case <-time.After(waitLimit):
		t.Fatalf("delivery did not reach DATA at %s", s.addr)
	}
}

// twoDestinations is a harness whose message goes to one.test (its sink
// held in DATA by gate) and then two.test.
func twoDestinations(t *testing.T, gate chan struct{}) (h *harness, one, two *sink, id string) {
	h = newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
	)
	one = h.sinkAt("127.0.0.2", sinkOptions{dataGate: gate})
	two = h.sinkAt("127.0.0.3", sinkOptions{})
	h.start()
	id = h.enqueue(msg("s@origin.test", "a@one.test", "b@two.test"))
	waitInData(t, one)
	return h, one, two, id
}

// An administrator's delete while the first destination of a message
// takes it stops the attempt there: the message's other destination is
// never sent a message the administrator deleted before it was tried.
func TestDeleteDuringAttemptStopsAtNextDestination(t *testing.T) {
	gate := make(chan struct{})
	h, one, two, id := twoDestinations(t, gate)
	if err := h.q.Delete(id); err != nil {
		t.Fatal(err)
	}
	close(gate)
	waitMsg(t, one) // in flight when deleted: it goes through
	h.waitIdle(id)
	if n := len(two.messages()); n != 0 {
		t.Errorf("two.test got %d messages after the delete, want none", n)
	}
	if !h.gone(id) {
		t.Error("the deleted message is back in the queue")
	}
}

// A hold while the first destination takes the message stops the attempt
// there too: the other recipient stays pending, held, until released.
func TestHoldDuringAttemptStopsAtNextDestination(t *testing.T) {
	gate := make(chan struct{})
	h, one, two, id := twoDestinations(t, gate)
	if err := h.q.Hold(id); err != nil {
		t.Fatal(err)
	}
	close(gate)
	waitMsg(t, one)
	h.waitIdle(id)
	if n := len(two.messages()); n != 0 {
		t.Errorf("two.test got %d messages after the hold, want none", n)
	}
	m, err := h.q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != envelope.StateHeld {
		t.Errorf("state %s after the attempt, want held", m.State)
	}
	if r := rcpt(m, "a@one.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("a@one.test %+v, want delivered (it was in flight)", r)
	}
	if r := rcpt(m, "b@two.test"); r.Status != envelope.RcptPending || r.Attempts != 0 {
		t.Errorf("b@two.test %+v, want pending and never tried", r)
	}
	if err := h.q.Release(id); err != nil {
		t.Fatal(err)
	}
	if got := waitMsg(t, two); len(got.rcpts) != 1 || got.rcpts[0] != "b@two.test" {
		t.Errorf("after release two.test got %q", got.rcpts)
	}
}

// administer deletes or holds message id, as an administrator would.
func (h *harness) administer(action, id string) {
	h.t.Helper()
	var err error
	if action == "delete" {
		err = h.q.Delete(id)
	} else {
		err = h.q.Hold(id)
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

// held returns message id, failing unless it is held.
func (h *harness) held(id string) *envelope.Message {
	h.t.Helper()
	m, err := h.q.Get(id)
	if err != nil {
		h.t.Fatal(err)
	}
	if m.State != envelope.StateHeld {
		h.t.Errorf("state %s after the hold, want held", m.State)
	}
	return m
}

// waitIdle waits until the attempt of id running now has ended: its
// worker lets go of the message's claim only after recording the outcome.
func (h *harness) waitIdle(id string) {
	h.t.Helper()
	if !h.agent.busy.wait(context.Background(), id, waitLimit) {
		h.t.Fatalf("the attempt of %s did not end", id)
	}
	h.agent.busy.release(id)
}

// deletedBeforeBody is a real queue whose Body first deletes the message,
// as an administrator's delete landing between an attempt's read of the
// envelope and of the body does; no real peer can time that.
type deletedBeforeBody struct{ *watchedQueue }

func (q deletedBeforeBody) Body(id string) ([]byte, error) {
	if err := q.Store.Delete(id); err != nil {
		return nil, err
	}
	return q.Store.Body(id)
}

// A message deleted as its attempt starts is simply gone: nothing is sent
// and no error is logged (the delete is the administrator's, not a fault
// of the queue's), nor is it brought back by rescheduling.
func TestDeleteAsAttemptStartsIsQuiet(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	var logs lockedBuffer
	h.logTo(&logs)
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	h.agent = New(deletedBeforeBody{h.q}, h.opt)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { h.agent.attempt(ctx, id); close(ran) }()
	<-ran
	cancel()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a delete racing the attempt logged an error:\n%s", logs.String())
	}
	if !h.gone(id) {
		t.Error("the deleted message is back in the queue")
	}
	if n := s.connections(); n != 0 {
		t.Errorf("%d connections to the sink for a deleted message", n)
	}
}

// A message held while its attempt runs does not expire when that attempt
// defers it past max_age: held mail never expires until released, as
// Postfix's postsuper(1) puts it. Its sender gets no report; the message
// waits, held, with the attempt's reply.
func TestHoldDuringAttemptDoesNotExpire(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	s := h.sinkAt("127.0.0.1", sinkOptions{dataGate: gate, data: tempFail})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = time.Hour
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitInData(t, s)
	h.clock.Advance(2 * time.Hour)
	if err := h.q.Hold(id); err != nil {
		t.Fatal(err)
	}
	close(gate)
	m := h.recorded(id)
	if m.State != envelope.StateHeld || m.Done() {
		t.Fatalf("after the attempt: state %s, done %v; want held and pending", m.State, m.Done())
	}
	if r := rcpt(m, "r@dest.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 ") {
		t.Errorf("recipient %+v, want pending with the server's 451", r)
	}
	if q := h.queued(); len(q) != 1 {
		t.Errorf("%d messages queued, want only the held one (no report)", len(q))
	}
}

// A message deleted or held while its attempt waits for a connection
// slot (per_destination reached, the sessions busy with other messages)
// is not sent when the slot frees: nothing of it reached a server yet. In
// Postfix the delivery agent opens the queue file only when it runs, and
// finds it gone.
func TestDeleteOrHoldWhileWaitingForASlot(t *testing.T) {
	for _, action := range []string{"delete", "hold"} {
		t.Run(action, func(t *testing.T) {
			h := newHarness(t)
			gate := make(chan struct{})
			s := h.sinkAt("127.0.0.1", sinkOptions{dataGate: gate})
			h.opt.Config.Relay = s.addr
			h.opt.Config.Workers = 2
			h.opt.Config.PerDestination = 1
			waiting := make(chan int, 10)
			first := h.enqueue(msg("s@origin.test", "first@dest.test"))
			h.startWith(func(a *Agent) {
				a.pool.waitHook = func(_ string, n int) { waiting <- n }
			})
			waitInData(t, s)
			second := h.enqueue(msg("s@origin.test", "second@dest.test"))
			select {
			case <-waiting:
			case <-time.After(waitLimit):
				t.Fatal("the second message's attempt does not wait for the slot")
			}
			h.administer(action, second)
			close(gate)
			if got := waitMsg(t, s); len(got.rcpts) != 1 || got.rcpts[0] != "first@dest.test" {
				t.Fatalf("first message to the sink: %q", got.rcpts)
			}
			h.waitIdle(first)
			h.waitIdle(second)
			for _, m := range s.messages() {
				if len(m.rcpts) == 1 && m.rcpts[0] == "second@dest.test" {
					t.Errorf("the message was sent after the %s", action)
				}
			}
			if action == "hold" {
				m := h.held(second)
				if r := rcpt(m, "second@dest.test"); r.Status != envelope.RcptPending {
					t.Errorf("after the hold: recipient %+v; want pending", r)
				}
			}
		})
	}
}

// A message deleted or held while the deliver hook's stages are asked
// about it (a plugin may take its whole timeout) is not sent afterwards.
func TestDeleteOrHoldDuringDeliverHook(t *testing.T) {
	for _, action := range []string{"delete", "hold"} {
		t.Run(action, func(t *testing.T) {
			h := newHarness(t)
			s := h.sinkAt("127.0.0.1", sinkOptions{})
			h.opt.Config.Relay = s.addr
			asked := make(chan string, 1)
			release := make(chan struct{})
			h.opt.Deliver = func(_ context.Context, m *envelope.Message, rcpts []DeliverRcpt) []DeliverVerdict {
				asked <- m.ID
				<-release // the stage is still thinking
				vs := make([]DeliverVerdict, len(rcpts))
				for i := range vs {
					vs[i].Trace = []pipeline.TraceEntry{{Stage: "slow", Hook: sdk.HookDeliver, Action: sdk.ActionContinue.String()}}
				}
				return vs
			}
			h.start()
			id := h.enqueue(msg("s@origin.test", "r@dest.test"))
			select {
			case <-asked:
			case <-time.After(waitLimit):
				t.Fatal("the deliver hook was not asked")
			}
			h.administer(action, id)
			close(release)
			h.waitIdle(id)
			if n := s.connections(); n != 0 {
				t.Errorf("%d connections to the sink after the %s", n, action)
			}
			if action == "hold" {
				m := h.held(id)
				if r := rcpt(m, "r@dest.test"); r.Status != envelope.RcptPending || r.Attempts != 0 {
					t.Errorf("after the hold: recipient %+v; want pending, never tried", r)
				}
			}
		})
	}
}

// A server that takes so many recipients per transaction gets the rest in
// new transactions at once; a delete or hold during the first stops the
// next, as it stops the next destination.
func TestDeleteOrHoldBetweenTransactions(t *testing.T) {
	for _, action := range []string{"delete", "hold"} {
		t.Run(action, func(t *testing.T) {
			h := newHarness(t)
			gate := make(chan struct{})
			s := h.sinkAt("127.0.0.1", sinkOptions{dataGate: gate, rcpt: func(addr string, n int) error {
				if addr == "b@dest.test" && n == 1 {
					return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
				}
				return nil
			}})
			h.opt.Config.Relay = s.addr
			h.start()
			id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test"))
			waitInData(t, s)
			h.administer(action, id)
			close(gate)
			if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"a@dest.test"}) {
				t.Fatalf("first transaction to %q", got.rcpts)
			}
			h.waitIdle(id)
			if n := len(s.messages()); n != 1 {
				t.Errorf("%d transactions, want only the one under way at the %s", n, action)
			}
			if action == "hold" {
				m := h.held(id)
				if r := rcpt(m, "b@dest.test"); r.Status != envelope.RcptPending {
					t.Errorf("after the hold: b %+v; want pending", r)
				}
				if r := rcpt(m, "a@dest.test"); r.Status != envelope.RcptDelivered {
					t.Errorf("a %+v, want delivered", r)
				}
			}
		})
	}
}

// A delete or hold while the best MX host stalls (a greeting that never
// comes, minutes of timeouts in real life) stops the attempt before the
// next MX host: it is not sent there, and the stalled host is not held
// against the destination (no backoff).
func TestDeleteOrHoldBeforeTheNextMX(t *testing.T) {
	for _, action := range []string{"delete", "hold"} {
		t.Run(action, func(t *testing.T) {
			h := newHarness(t)
			h.useDNS(nil,
				"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4",
				"dest.test. MX 20 mx2.dest.test.", "mx2.dest.test. A 127.0.0.2",
			)
			stalled, gate := stallAt(t, "127.0.0.4", h.port)
			s := h.sinkAt("127.0.0.2", sinkOptions{})
			h.opt.Routing.BackoffAfter = 1
			h.start()
			id := h.enqueue(msg("s@origin.test", "r@dest.test"))
			select {
			case <-stalled:
			case <-time.After(waitLimit):
				t.Fatal("the best MX was not dialled")
			}
			h.administer(action, id)
			close(gate) // the best MX hangs up without a greeting
			h.waitIdle(id)
			if n := s.connections(); n != 0 {
				t.Errorf("%d connections to the next MX after the %s", n, action)
			}
			if until, ok := h.agent.rt.backoff.blocked("dest.test", h.clock.Now()); ok {
				t.Errorf("dest.test in backoff until %v", until)
			}
			if action == "hold" {
				m := h.held(id)
				if r := rcpt(m, "r@dest.test"); r.Status != envelope.RcptPending || r.Attempts != 0 {
					t.Errorf("after the hold: recipient %+v; want pending, not counted as tried", r)
				}
			}
		})
	}
}

// stallAt listens on ip:port and holds each connection without a greeting
// until gate is closed, then closes it; stalled says one arrived.
func stallAt(t *testing.T, ip string, port int) (stalled chan struct{}, gate chan struct{}) {
	t.Helper()
	stalled, gate = make(chan struct{}, 10), make(chan struct{})
	testlib.AcceptEach(t, net.JoinHostPort(ip, strconv.Itoa(port)), func(c net.Conn) {
		stalled <- struct{}{}
		go func() {
			<-gate
			c.Close()
		}()
	})
	return stalled, gate
}
