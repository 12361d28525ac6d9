package delivery

import (
	"context"
	"time"
)

// dueErrorBackoff is how long the scheduler waits before asking the queue
// again after Due failed.
const dueErrorBackoff = time.Second

// dispatchBatch is how many workers must be free before the scheduler asks
// the queue again while the last answer filled every free worker (more
// may be due). Each Due walks past the in-flight entries at the front of
// the schedule index; asking as each single worker frees up would cost
// O(workers) per delivery, most of the daemon's CPU when it drains a
// large backlog.
func dispatchBatch(workers int) int { return max(1, workers/8) }

// Run schedules deliveries until ctx is done. It asks the queue's schedule
// index for due messages, never more than there are free workers, and then
// sleeps until one of: the queue's notification, Kick, the next scheduled
// attempt, a worker finishing, or ctx. While due messages outnumber the
// workers it asks again only once dispatchBatch workers are free. A
// message being delivered is in-flight and never dispatched twice. While
// the queue's disk is short (diskShort) it dispatches nothing and asks
// again every spaceRecheck.
//
// When ctx is done Run stops dispatching, lets in-flight deliveries finish
// for up to the command timeout, then cancels them, waits for them, closes
// idle connections and returns nil. Run is called once per Agent.
func (a *Agent) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	done := make(chan string, a.cfg.Workers)
	// Workers live on between messages: a goroutine per attempt grew its
	// stack anew (through Pebble and the SMTP client) every time. One is
	// started when none is idle, up to Workers; past that a message waits
	// for the worker about to come free (fewer than Workers are busy when a
	// message is due, and done has room for every one of them).
	jobs := make(chan string)
	defer close(jobs)
	started := 0
	worker := func(id string) {
		for ok := true; ok; id, ok = <-jobs {
			a.attempt(work, id)
			a.busy.release(id)
			if a.isRetired() {
				// The successor skipped id while this attempt held it;
				// its next attempt is the successor's to schedule.
				a.Kick()
			}
			done <- id
		}
	}
	inflight := map[string]bool{}
	// A message an administrator is bouncing right now is not due.
	skip := func(id string) bool { return inflight[id] || a.busy.held(id) }
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	batch := dispatchBatch(a.cfg.Workers)
	saturated := false // the last Due filled every free worker

	for {
		if a.isRetired() {
			// Checked before each dispatch, not only when the select
			// below picks it among other ready cases: a retired agent
			// starts nothing on the old settings.
			a.retired(ctx, done, len(inflight), cancelWork)
			return nil
		}
		free := a.cfg.Workers - len(inflight)
		if free > 0 && (free >= batch || !saturated) && a.diskShort() {
			free = 0 // nothing starts while the disk is short: ask again later
			timer.Reset(spaceRecheck)
		}
		if free > 0 && (free >= batch || !saturated) {
			now := a.clock()
			ids, next, err := a.q.Due(now, free, skip)
			if err != nil {
				a.log.Error("delivery: reading the schedule", "err", err)
				next = now.Add(dueErrorBackoff)
			}
			saturated = len(ids) == free
			for _, id := range ids {
				if a.isRetired() {
					break // the successor takes these
				}
				if !a.busy.take(id) {
					continue // a bounce took it since Due looked
				}
				inflight[id] = true
				select {
				case jobs <- id: // an idle worker
				default:
					if started < a.cfg.Workers {
						started++
						go worker(id)
					} else {
						jobs <- id
					}
				}
			}
			if next.IsZero() {
				timer.Stop()
			} else {
				timer.Reset(max(next.Sub(now), 0))
			}
		}
		select {
		case <-ctx.Done():
			a.drain(done, len(inflight), cancelWork)
			return nil
		case <-a.retire:
			a.retired(ctx, done, len(inflight), cancelWork)
			return nil
		case <-a.q.Notify():
		case <-a.kick:
		case <-timer.C:
		case id := <-done:
			delete(inflight, id)
		}
	}
}

// retired waits for the n attempts in flight when the agent was retired
// to end on their own, then closes the idle connections; if ctx ends
// meanwhile (the daemon stops), the rest drain as at any stop.
func (a *Agent) retired(ctx context.Context, done <-chan string, n int, cancel context.CancelFunc) {
	for n > 0 {
		select {
		case <-done:
			n--
		case <-ctx.Done():
			a.drain(done, n, cancel)
			return
		}
	}
	a.pool.close()
}

// drain waits for n in-flight deliveries, cancelling them once the command
// timeout has passed, then closes the idle connections.
func (a *Agent) drain(done <-chan string, n int, cancel context.CancelFunc) {
	grace := time.NewTimer(a.cfg.CommandTimeout.Duration)
	defer grace.Stop()
	for n > 0 {
		select {
		case <-done:
			n--
		case <-grace.C:
			cancel()
		}
	}
	a.pool.close()
}
