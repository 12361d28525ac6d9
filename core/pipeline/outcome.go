package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// The outcome hook tells the stages that declare it what became of a
// queued message's recipients (Haraka's delivered, deferred and bounce
// hooks), once delivery has committed it to the queue. It is a
// notification: delivery never waits for it. Each stage has a bounded
// queue of notifications and a few calls at a time; when a stage is too
// slow for the mail going out, what does not fit is dropped and counted,
// as a log line or a metric would rather be lost than hold up mail. The
// stage's timeout bounds each call; its on_error does not apply (there is
// nothing to decide), a failure is logged. Milters are never asked.

const (
	// maxOutcomeQueue bounds the notifications waiting for one stage: a
	// stage stuck on its store (with a long timeout) would otherwise
	// keep every outcome of the mail going out in memory.
	maxOutcomeQueue = 1024
	// maxOutcomeCalls bounds one stage's calls in flight, so that a slow
	// stage costs it a few goroutines and connections, not one per
	// notification.
	maxOutcomeCalls = 4
	// outcomeWarnEvery spaces the warnings of dropped notifications: one
	// line per stage a minute, with the count since the last, however
	// many are dropped.
	outcomeWarnEvery = time.Minute
)

// OutcomeCall is one notification: the message's envelope (MailFrom,
// QueueID), its notes as queued and what became of its recipients.
type OutcomeCall struct {
	Env     sdk.Envelope
	Notes   Notes
	Outcome sdk.Outcome
}

// OutcomeConn is a Conn that can be told outcomes (a plugin's).
type OutcomeConn interface {
	Outcome(ctx context.Context, t *sdk.Txn, o sdk.Outcome) error
}

// outcomeQueue is one stage's notifications waiting for a call.
type outcomeQueue struct {
	mu      sync.Mutex
	pending []OutcomeCall
	running int // goroutines calling the stage, at most maxOutcomeCalls
	// dropped counts the notifications that found the queue full;
	// unwarned those since the last warning, at warned.
	dropped  int64
	unwarned int64
	warned   time.Time
}

// DeclaresOutcome reports whether a stage wants outcomes, so that
// delivery builds none when no stage does.
func (p *Pipeline) DeclaresOutcome() bool { return p.Declares(sdk.HookOutcome) }

// Outcome queues c for every stage that declared the outcome hook, and
// returns at once.
func (p *Pipeline) Outcome(c OutcomeCall) {
	for _, e := range p.entries {
		if d, ok := e.Stage.(Declarer); !ok || !d.Declares(sdk.HookOutcome) {
			continue
		}
		p.queueOutcome(e, c)
	}
}

// queueOutcome puts c in e's queue, starting a goroutine to call e when
// fewer than maxOutcomeCalls run, or drops it when the queue is full.
func (p *Pipeline) queueOutcome(e *entry, c OutcomeCall) {
	q := &e.stats.outcomes
	q.mu.Lock()
	if len(q.pending) >= maxOutcomeQueue {
		q.dropped++
		q.unwarned++
		now := p.now()
		warn := q.warned.IsZero() || now.Sub(q.warned) >= outcomeWarnEvery
		n := q.unwarned
		if warn {
			q.warned, q.unwarned = now, 0
		}
		q.mu.Unlock()
		if p.observe != nil {
			p.observe(e.Name, sdk.HookOutcome, "dropped", 0, false)
		}
		if warn {
			p.log.Warn("outcome notifications dropped: the stage is too slow for them", "stage", e.Name,
				"dropped", n, "queue", maxOutcomeQueue, "id", c.Env.QueueID)
		}
		return
	}
	q.pending = append(q.pending, c)
	start := q.running < maxOutcomeCalls
	if start {
		q.running++
	}
	q.mu.Unlock()
	if start {
		go p.runOutcomes(e, q)
	}
}

// runOutcomes calls e with the queued notifications until there are none.
func (p *Pipeline) runOutcomes(e *entry, q *outcomeQueue) {
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.running--
			q.pending = nil // let the backing array go
			q.mu.Unlock()
			return
		}
		c := q.pending[0]
		q.pending[0] = OutcomeCall{}
		q.pending = q.pending[1:]
		q.mu.Unlock()
		if err := p.callOutcome(e, c); errors.Is(err, ErrStageDown) {
			p.dropOutcomes(e, q)
		}
	}
}

// dropOutcomes drops the notifications q holds for e, which is down
// (stopped at shutdown, replaced by a reload, or restarting after a
// crash): each would fail at once, with a warning line of its own, so
// they are dropped and counted as a full queue's are, with one line.
func (p *Pipeline) dropOutcomes(e *entry, q *outcomeQueue) {
	q.mu.Lock()
	n := len(q.pending)
	q.pending = nil
	q.dropped += int64(n)
	q.mu.Unlock()
	if n == 0 {
		return
	}
	if p.observe != nil {
		for range n {
			p.observe(e.Name, sdk.HookOutcome, "dropped", 0, false)
		}
	}
	p.log.Warn("outcome notifications dropped: the stage is down", "stage", e.Name, "dropped", n)
}

// callOutcome tells stage e of c, within its timeout, and returns the
// call's error. The call counts in the stage's counters and latencies
// like any other.
func (p *Pipeline) callOutcome(e *entry, c OutcomeCall) error {
	id := c.Env.QueueID
	sess := sdk.Session{ID: "outcome-" + id, Listener: "outcome", Notes: c.Notes.Session}
	ctx, cancel := sdk.WithCallTimeout(context.Background(), e.Timeout)
	defer cancel()
	start := p.now()
	err := ErrStageDown
	conn, oerr := e.Stage.Open(ctx, &sess)
	if oerr == nil {
		if oc, ok := conn.(OutcomeConn); ok {
			err = oc.Outcome(ctx, &sdk.Txn{Session: sess, Envelope: c.Env, Notes: c.Notes.Txn}, c.Outcome)
		}
		_ = conn.Close()
	}
	lat := p.now().Sub(start)
	verdict := "continue"
	if err != nil {
		verdict = "error"
		p.log.Warn("stage failed", "stage", e.Name, "hook", string(sdk.HookOutcome), "err", err, "id", id)
	}
	e.stats.record(lat, verdict, err != nil)
	if p.observe != nil {
		p.observe(e.Name, sdk.HookOutcome, verdict, lat, err != nil)
	}
	return err
}

// droppedCount is the count of the notifications q dropped.
func (q *outcomeQueue) droppedCount() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
