package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluice-mta/sluice/core/envelope"
)

// crashModel is what a worker knows of one of its messages: the state its
// last acknowledged operation left, and the state the operation still in
// flight would leave (nil when none is). After a crash the store must hold
// one of the two.
type crashModel struct {
	acked, inflight *crashState
}

// crashState is a message's state as the test sees it; gone is a message
// removed (deleted, or every recipient delivered).
type crashState struct {
	gone      bool
	state     envelope.State
	delivered int
}

// same reports whether c and o are the same state (a message gone is gone,
// whatever it was before).
func (c crashState) same(o *crashState) bool {
	if o == nil {
		return false
	}
	if c.gone || o.gone {
		return c.gone == o.gone
	}
	return c == *o
}

func (c crashState) String() string {
	if c.gone {
		return "gone"
	}
	return fmt.Sprintf("%s/%d delivered", c.state, c.delivered)
}

// crashLedger holds every worker's models. A worker records an
// acknowledged operation under mu; the crash clone is taken under mu, so
// every operation recorded as acknowledged had returned before it.
type crashLedger struct {
	mu     sync.Mutex
	models map[string]*crashModel
	// bounces maps a message failed with ModifyEnqueue to the report
	// queued in the same commit.
	bounces map[string]string
}

// bounced records that id's operation in flight queues report.
func (l *crashLedger) bounced(id, report string) {
	l.mu.Lock()
	l.bounces[id] = report
	l.mu.Unlock()
}

// begin records op's expected result as in flight for id.
func (l *crashLedger) begin(id string, next crashState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.models[id]
	if m == nil {
		m = &crashModel{}
		l.models[id] = m
	}
	m.inflight = &next
}

// ack records that id's operation in flight returned; ok is whether it
// succeeded (a failed one changed nothing).
func (l *crashLedger) ack(id string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.models[id]
	if ok {
		m.acked = m.inflight
	}
	m.inflight = nil
}

// snapshot copies the models and the bounces.
func (l *crashLedger) snapshot() (map[string]crashModel, map[string]string) {
	out := make(map[string]crashModel, len(l.models))
	for id, m := range l.models {
		out[id] = *m
	}
	b := make(map[string]string, len(l.bounces))
	for id, r := range l.bounces {
		b[id] = r
	}
	return out, b
}

// A crash (with unsynced writes partly lost, as on power loss) at any
// moment of a busy queue — enqueues, holds, releases, retries, flushes,
// deliveries, deletes — loses no acknowledged change and leaves the
// schedule index consistent with the messages: every active message has
// exactly its one schedule entry, so none is stranded undelivered after
// the restart.
func TestCrashKeepsAcknowledgedChangesAndIndex(t *testing.T) {
	fs := vfs.NewCrashableMem()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(7, 7))
	checked := 0
	for round := range 6 {
		s, err := Open("q", Options{Clock: clk.Now, fs: fs})
		if err != nil {
			t.Fatalf("round %d: reopen after the crash: %v", round, err)
		}
		led := &crashLedger{models: map[string]*crashModel{}, bounces: map[string]string{}}
		var started sync.WaitGroup
		var wg sync.WaitGroup
		crashed := make(chan struct{})
		reached := make(chan struct{})
		var once sync.Once
		var mu sync.Mutex
		ops, crashAt := 0, 200+rng.IntN(200)
		tick := func() {
			mu.Lock()
			ops++
			if ops == crashAt {
				once.Do(func() { close(reached) })
			}
			mu.Unlock()
		}
		for w := range 6 {
			started.Add(1)
			wg.Go(func() {
				started.Done()
				crashChurn(s, clk, led, uint64(round*10+w), crashed, tick)
			})
		}
		started.Wait()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-reached:
		case <-done:
			t.Fatalf("round %d: the workers stopped after %d operations, before the crash point %d", round, ops, crashAt)
		}
		cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}
		led.mu.Lock()
		want, bounces := led.snapshot()
		fs = fs.CrashClone(cfg)
		led.mu.Unlock()
		close(crashed)
		wg.Wait()
		_ = s.Close()

		s, err = Open("q", Options{Clock: clk.Now, fs: fs})
		if err != nil {
			t.Fatalf("round %d: open after the crash: %v", round, err)
		}
		checkCrashModels(t, s, round, want)
		checkBounces(t, s, round, bounces)
		checkIndex(t, s, fmt.Sprintf("round %d after the crash", round))
		checkCounts(t, s, fmt.Sprintf("round %d after the crash", round))
		checked += len(want)
		_ = s.Close()
	}
	if checked == 0 {
		t.Fatal("no message was checked")
	}
}

// crashChurn runs queue operations on its own messages until crashed is
// closed, recording each in led.
func crashChurn(s *Store, clk *fakeClock, led *crashLedger, seed uint64, crashed <-chan struct{}, tick func()) {
	rng := rand.New(rand.NewPCG(seed, 3))
	var mine []string
	cur := map[string]crashState{} // as last acknowledged
	for i := 0; ; i++ {
		select {
		case <-crashed:
			return
		default:
		}
		tick()
		if i%8 == 0 {
			clk.Add(time.Second) // so that retries and flushes move entries
		}
		if len(mine) == 0 || rng.IntN(3) == 0 {
			m := newMsg(s, "a@example.net", "b@example.net")
			m.NextAttempt = clk.Now().Add(time.Duration(rng.IntN(3600)) * time.Second)
			led.begin(m.ID, crashState{state: envelope.StateActive})
			err := s.Enqueue(m, []byte("body of "+m.ID))
			led.ack(m.ID, err == nil)
			if err == nil {
				mine = append(mine, m.ID)
				cur[m.ID] = crashState{state: envelope.StateActive}
			}
			continue
		}
		k := rng.IntN(len(mine))
		id := mine[k]
		c := cur[id]
		next := c
		var op func() error
		switch rng.IntN(8) {
		case 0:
			next.state = envelope.StateHeld
			op = func() error { return s.Hold(id) }
		case 1:
			if c.state == envelope.StateActive {
				continue
			}
			next.state = envelope.StateActive
			op = func() error { return s.Release(id) }
		case 2:
			if c.state != envelope.StateActive {
				continue
			}
			op = func() error { return s.Retry(id) }
		case 3:
			op = func() error { _, err := s.Flush(); return err }
		case 4, 5:
			// A delivery attempt records one more recipient delivered and
			// the next attempt; the last one removes the message.
			next.delivered++
			next.gone = next.delivered == 2
			op = func() error {
				_, err := s.Modify(id, func(m *envelope.Message) error {
					for i := range m.Rcpts {
						if !m.Rcpts[i].Done() {
							m.Rcpts[i].Status = envelope.RcptDelivered
							break
						}
					}
					m.NextAttempt = clk.Now().Add(time.Duration(rng.IntN(600)) * time.Second)
					return nil
				})
				return err
			}
		case 6:
			next.gone = true
			op = func() error { return s.Delete(id) }
		default:
			// Every recipient failed: the message goes and its bounce is
			// queued in the same commit.
			next.gone = true
			report := newMsg(s, "a@example.org")
			led.bounced(id, report.ID)
			op = func() error {
				_, err := s.ModifyEnqueue(id, func(m *envelope.Message) ([]Queued, error) {
					for i := range m.Rcpts {
						if !m.Rcpts[i].Done() {
							m.Rcpts[i].Status = envelope.RcptFailed
						}
					}
					return []Queued{{Msg: report, Body: []byte("report on " + id)}}, nil
				})
				return err
			}
		}
		led.begin(id, next)
		err := op()
		led.ack(id, err == nil)
		if err != nil {
			return // a commit refused after the crash clone
		}
		cur[id] = next
		if next.gone {
			mine = append(mine[:k], mine[k+1:]...)
		}
	}
}

// checkCrashModels fails unless each message is as its last acknowledged
// operation left it, or as the one in flight at the crash would.
func checkCrashModels(t *testing.T, s *Store, round int, want map[string]crashModel) {
	t.Helper()
	for id, w := range want {
		got := crashState{gone: true}
		m, err := s.Get(id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			t.Fatalf("round %d: %s: %v", round, id, err)
		default:
			got = crashState{state: m.State}
			for _, r := range m.Rcpts {
				if r.Status == envelope.RcptDelivered {
					got.delivered++
				}
			}
			body, err := s.Body(id)
			if err != nil || !bytes.Equal(body, []byte("body of "+id)) {
				t.Fatalf("round %d: %s: body %q, %v", round, id, body, err)
			}
		}
		ok := got.same(w.acked) || got.same(w.inflight) ||
			(w.acked == nil && got.gone) // an enqueue in flight, not acknowledged
		if !ok {
			t.Fatalf("round %d: %s is %v after the crash; acknowledged %v, in flight %v", round, id, got, w.acked, w.inflight)
		}
	}
}

// checkBounces fails unless each failed message's report is queued if and
// only if the failure was recorded (it is in the same commit): no failure
// without its report, no report for mail still queued.
func checkBounces(t *testing.T, s *Store, round int, bounces map[string]string) {
	t.Helper()
	for id, report := range bounces {
		_, err := s.Get(id)
		gone := errors.Is(err, ErrNotFound)
		if err != nil && !gone {
			t.Fatal(err)
		}
		_, err = s.Get(report)
		queued := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		// The failure was the last operation on id: before it, id was
		// queued, and nothing else removes it or touches the report.
		if gone != queued {
			t.Fatalf("round %d: after the crash %s is gone=%v but its report %s is queued=%v", round, id, gone, report, queued)
		}
		if queued {
			body, err := s.Body(report)
			if err != nil || string(body) != "report on "+id {
				t.Fatalf("round %d: report %s body %q, %v", round, report, body, err)
			}
		}
	}
}

// checkIndex fails unless the schedule index holds exactly one entry per
// active message, at its next attempt, and nothing else; and every
// message has its body.
func checkIndex(t *testing.T, s *Store, when string) {
	t.Helper()
	sched := map[string]int64{}
	err := s.scan("t/", func(k, _ []byte) bool {
		id := string(k[len("t/")+9:])
		if _, dup := sched[id]; dup {
			t.Errorf("%s: %s has two schedule entries", when, id)
		}
		sched[id] = int64(binary.BigEndian.Uint64(k[2:10]))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	err = s.Walk("", func(m *envelope.Message) bool {
		at, ok := sched[m.ID]
		switch {
		case m.State == envelope.StateActive && !ok:
			t.Errorf("%s: active message %s has no schedule entry: it would never be delivered", when, m.ID)
		case m.State == envelope.StateActive && at != m.NextAttempt.UnixNano():
			t.Errorf("%s: %s is scheduled at %d, its next attempt is %d", when, m.ID, at, m.NextAttempt.UnixNano())
		case m.State != envelope.StateActive && ok:
			t.Errorf("%s: %s is %s but scheduled", when, m.ID, m.State)
		}
		if m.State == envelope.StateActive {
			active++
		}
		delete(sched, m.ID)
		if _, err := s.Body(m.ID); err != nil {
			t.Errorf("%s: %s has no body: %v", when, m.ID, err)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range sched {
		t.Errorf("%s: schedule entry for %s, which is not queued", when, id)
	}
	// Due finds every active message once its time has come.
	ids, _, err := s.Due(time.Unix(1<<40, 0), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != active {
		t.Errorf("%s: Due finds %d of the %d active messages", when, len(ids), active)
	}
	if t.Failed() {
		t.FailNow()
	}
}
