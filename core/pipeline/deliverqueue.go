package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// The deliver hook is asked by every delivery attempt, concurrently. A
// round trip per recipient per stage would cost as much again as the
// whole of a message's SMTP session, so calls are gathered as a group
// commit gathers writes: while a pass through the stages runs, the calls
// that arrive wait, and the next pass takes them all. An idle pipeline
// makes no caller wait; a busy one sends each stage one frame for many
// recipients.
//
// A pass is as slow as its slowest call (a stage that times out on one
// recipient holds up the others in its pass). So that such a pass does
// not hold up every later one too, a caller that finds no pass started
// for deliverSpillAfter starts one of its own, up to maxDeliverPasses.
const (
	deliverSpillAfter = 20 * time.Millisecond
	maxDeliverPasses  = 64
)

// deliverQueue gathers Deliver's callers into passes.
type deliverQueue struct {
	mu      sync.Mutex
	pending []*deliverReq
	passes  int       // goroutines running passes
	started time.Time // when the latest pass started
}

// deliverReq is one caller's calls, answered when done is closed.
type deliverReq struct {
	calls []DeliverCall
	out   []DeliverResult
	done  chan struct{}
}

// ask queues calls for the next pass of p and waits for their outcomes,
// or for ctx: then every call is deferred.
func (q *deliverQueue) ask(ctx context.Context, p *Pipeline, calls []DeliverCall) []DeliverResult {
	req := &deliverReq{calls: calls, done: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, req)
	if q.passes == 0 || (q.passes < maxDeliverPasses && p.now().Sub(q.started) >= deliverSpillAfter) {
		q.passes++
		go q.run(p)
	}
	q.mu.Unlock()
	select {
	case <-req.done:
		return req.out
	case <-ctx.Done():
		// The pass goes on without this caller, who defers its
		// recipients to the next attempt.
		out := make([]DeliverResult, len(calls))
		for i := range out {
			out[i].Outcome = Outcome{Action: sdk.ActionTempfail, Reply: replyStageTempfail.With(fmt.Sprintf("deliver hook: %v", ctx.Err()))}
		}
		return out
	}
}

// run makes passes over the pending calls until there are none. A pass
// has no caller's context: each stage's timeout bounds it.
func (q *deliverQueue) run(p *Pipeline) {
	for {
		q.mu.Lock()
		reqs := q.pending
		q.pending = nil
		if len(reqs) == 0 {
			q.passes--
			q.mu.Unlock()
			return
		}
		q.started = p.now()
		q.mu.Unlock()
		var calls []DeliverCall
		for _, r := range reqs {
			calls = append(calls, r.calls...)
		}
		out := p.deliverPass(context.Background(), calls)
		for _, r := range reqs {
			n := len(r.calls)
			r.out, out = out[:n:n], out[n:]
			close(r.done)
		}
	}
}
