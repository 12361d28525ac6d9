package delivery

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// dueCounter is the real queue, counting the scheduler's questions.
type dueCounter struct {
	*queue.Store
	calls atomic.Int64
}

func (q *dueCounter) Due(now time.Time, limit int, skip func(string) bool) ([]string, time.Time, error) {
	q.calls.Add(1)
	return q.Store.Due(now, limit, skip)
}

// With more due messages than workers, the scheduler asks the queue again
// once a batch of workers is free, not as each one frees up: every Due
// walks past the in-flight entries, so one question per delivery cost
// O(workers) each. Everything is still delivered.
func TestSchedulerAsksInBatchesWhileSaturated(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	const workers, n = 32, 96 // n: fewer than the sink's unread-message buffer
	h.opt.Config.Workers, h.opt.Config.PerDestination = workers, 8
	var qs []queue.Queued
	for i := range n {
		m := msg("s@origin.test", fmt.Sprintf("r%d@dest.test", i))
		m.ID, m.Received = h.q.NewID(), h.clock.Now()
		qs = append(qs, queue.Queued{Msg: m, Body: []byte(testBody)})
	}
	if err := h.q.EnqueueMany(qs); err != nil {
		t.Fatal(err)
	}
	q := &dueCounter{Store: h.q.Store}
	h.startWith(func(a *Agent) { a.q = q })
	for range n {
		waitMsg(t, s)
	}
	// One question per delivery would be n or more. In batches it is one
	// per batch while saturated, then at most one per worker finishing
	// once fewer than the free workers are due.
	if c, most := q.calls.Load(), int64(1+n/dispatchBatch(workers)+workers); c > most {
		t.Fatalf("%d questions to the queue for %d deliveries by %d workers, want at most %d", c, n, workers, most)
	}
	deadline := time.After(waitLimit)
	for c, _ := h.q.Counts(); c[envelope.StateActive] > 0; c, _ = h.q.Counts() {
		select {
		case <-deadline:
			t.Fatalf("%d still queued", c[envelope.StateActive])
		case <-time.After(10 * time.Millisecond): // bounded poll of the recorded outcomes
		}
	}
}
