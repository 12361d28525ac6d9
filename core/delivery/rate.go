package delivery

import (
	"slices"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/metrics"
)

// rates paces deliveries per destination under a rate delay ([delivery]
// rate_delay, a route's rate_delay=), as Postfix's queue manager does
// with default_destination_rate_delay: one delivery at a time, each
// starting at least the delay after the one before. The destination is
// what backoff knows it by (destination.key): the recipient domain for
// MX mail, the next hop for a relay, smtp: or lmtp: route.
//
// A message whose destination may not start yet is not slept on: it is
// promised the next free start and goes back to the queue's schedule
// index for that time (apply sets its NextAttempt), with no attempt
// counted. Each waiting message is so read and written once more, not
// once per start of the destination, and the promise keeps it ahead of
// mail arriving later. The state lives in memory only; a restart forgets
// it, as Postfix's does, and a reload's agent takes it over (Successor):
// the retiring agent's delivery still running keeps the destination busy.
//
// waiting counts the messages holding a promise, for
// sluice_delivery_rate_delay_waiting: a promise is dropped when it is
// kept, when its message comes back and no longer waits there (rerouted,
// its destination in backoff, expired), and when an administrator holds,
// deletes or bounces the message (forget); a start that passes with its
// message not come for it is dropped at the destination's next take.
type rates struct {
	mu        sync.Mutex
	m         map[string]*rateState
	nextSweep int // sweep when m reaches this many entries
	// waiting are the destinations (keys of m) that promised each
	// waiting message a start, by ID; gauge shows how many there are.
	waiting map[string][]string
	gauge   *metrics.Metrics
	// early are the messages a promise brings back before the retry of
	// their other pending recipients, by ID (earlyRetry).
	early          map[string]earlyRetry
	nextEarlySweep int
}

// earlyRetry is a message whose NextAttempt is next, a rate delay's
// promise to the recipients in held, while its other pending recipients
// are not due before retry: coming back at next, the attempt tries only
// the destinations of held, so that a 4xx at another destination is not
// retried at each promise (every busyRecheck while a slow delivery runs)
// ahead of the retry schedule.
type earlyRetry struct {
	retry, next time.Time
	held        map[string]bool
}

// holds reports whether d has a recipient the promise was for.
func (e earlyRetry) holds(d *destination) bool {
	for _, r := range d.rcpts {
		if e.held[r.Addr] {
			return true
		}
	}
	return false
}

type rateState struct {
	last time.Time // the last delivery's start
	busy bool      // a delivery is running
	tail time.Time // the first start not yet promised to a waiting message
	// late is the first start free for a message that missed its own
	// (the destination was busy or taken then): each gets a start of its
	// own, so that a backlog held up by a slow delivery does not come
	// back all at once, and again at every recheck.
	late time.Time
	// held are the waiting messages, by ID, and the start each was
	// promised.
	held map[string]time.Time
}

// rateSweepEvery bounds the table as backoffSweepEvery does backoffs'.
const rateSweepEvery = 4096

// busyRecheck is the longest a message promised a start waits before it
// looks again while the destination's delivery before it still runs:
// that one's end is not known in advance.
const busyRecheck = 5 * time.Second

func newRates() *rates {
	return &rates{m: map[string]*rateState{}, nextSweep: rateSweepEvery,
		waiting: map[string][]string{},
		early:   map[string]earlyRetry{}, nextEarlySweep: rateSweepEvery}
}

// report shows m the number of waiting messages, now and at each change
// (a reload's successor shares the table and brings its own Metrics).
func (r *rates) report(m *metrics.Metrics) {
	r.mu.Lock()
	r.gauge = m
	r.changed()
	r.mu.Unlock()
}

// changed sets the gauge. r.mu is held, so that two changes never set it
// in the other order.
func (r *rates) changed() {
	r.gauge.RateDelayWaiting(len(r.waiting))
}

// promise records that destination key promised message id the start at.
// r.mu is held.
func (r *rates) promise(st *rateState, key, id string, at time.Time) {
	if _, ok := st.held[id]; !ok {
		r.waiting[id] = append(r.waiting[id], key)
	}
	st.held[id] = at
}

// unpromise drops destination key's promise to message id, if any. r.mu
// is held.
func (r *rates) unpromise(st *rateState, key, id string) {
	if _, ok := st.held[id]; !ok {
		return
	}
	delete(st.held, id)
	keys := slices.DeleteFunc(r.waiting[id], func(k string) bool { return k == key })
	if len(keys) == 0 {
		delete(r.waiting, id)
	} else {
		r.waiting[id] = keys
	}
}

// forget drops every promise to message id: an administrator held,
// deleted or bounced it, or it left the queue, so it does not come for
// them. A held message released later queues behind the messages
// promised meanwhile, as one that came after its start does.
func (r *rates) forget(id string) {
	r.settle(id, nil)
}

// settle drops the promises to message id but those of the destinations
// in kept, at the end of an attempt that renewed these: the message came
// back and did not wait at the others (a route changed, a destination in
// backoff), so it will not come for their starts.
func (r *rates) settle(id string, kept []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := r.waiting[id]
	if len(keys) == 0 {
		return
	}
	for _, key := range slices.Clone(keys) {
		if st := r.m[key]; st != nil && !slices.Contains(kept, key) {
			r.unpromise(st, key, id)
		}
	}
	r.changed()
}

// take asks to start a delivery of message id to key at now, at least
// delay after the last start there. When ok, the delivery may start
// (done must follow its end), and waited reports that the message had
// been waiting for it. Otherwise until is when the message comes back.
func (r *rates) take(key, id string, now time.Time, delay time.Duration) (until time.Time, waited, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.changed()
	st := r.m[key]
	if st == nil {
		if len(r.m) >= r.nextSweep {
			r.sweep(now)
		}
		st = &rateState{held: map[string]time.Time{}}
		r.m[key] = st
	}
	if !now.Before(st.tail) {
		// Every start promised is past: a message that has not come
		// for its own (late, or removed where forget was not told)
		// keeps no place.
		for held := range st.held {
			r.unpromise(st, key, held)
		}
	}
	slot, promised := st.held[id]
	earliest := st.last.Add(delay)
	free := !st.busy && !now.Before(earliest)
	if free && (promised || !now.Before(st.tail)) {
		r.unpromise(st, key, id)
		st.last, st.busy = now, true
		st.tail = later(st.tail, now.Add(delay))
		return time.Time{}, promised, true
	}
	recheck := now.Add(min(delay, busyRecheck))
	var at time.Time
	switch {
	case promised && slot.After(now) && (!st.busy || !slot.Before(recheck)):
		// Back before its start (the retry schedule, an administrator's
		// retry): it keeps its place ahead of the messages promised later.
		at = later(earliest, slot)
	case !promised:
		at = later(earliest, st.tail)
		if st.busy {
			at = later(at, recheck)
		}
	default:
		// Its start came while the destination was busy or taken (a
		// late dispatch): a new start of its own, after the other late
		// ones'.
		at = later(earliest, st.late)
		if st.busy {
			at = later(at, recheck)
		}
		st.late = at.Add(delay)
	}
	r.promise(st, key, id, at)
	st.tail = later(st.tail, at.Add(delay))
	return at, false, false
}

// done ends the delivery take allowed at key.
func (r *rates) done(key string) {
	r.mu.Lock()
	if st := r.m[key]; st != nil {
		st.busy = false
	}
	r.mu.Unlock()
}

// setEarly notes e for message id (earlyRetry) at now.
func (r *rates) setEarly(id string, e earlyRetry, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.early) >= r.nextEarlySweep {
		// A message deleted or bounced meanwhile never comes for its
		// entry: one whose retry is past says nothing any more.
		for k, v := range r.early {
			if !now.Before(v.retry) {
				delete(r.early, k)
			}
		}
		r.nextEarlySweep = len(r.early) + rateSweepEvery
	}
	r.early[id] = e
}

// takeEarly removes and returns message id's earlyRetry, if any.
func (r *rates) takeEarly(id string) (earlyRetry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.early[id]
	delete(r.early, id)
	return e, ok
}

// sweep drops the destinations with nothing running, promised or still
// paused at now. r.mu is held.
func (r *rates) sweep(now time.Time) {
	for k, st := range r.m {
		if !st.busy && !now.Before(st.tail) {
			for held := range st.held {
				r.unpromise(st, k, held)
			}
			delete(r.m, k)
		}
	}
	r.nextSweep = len(r.m) + rateSweepEvery
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rateDelay is d's rate delay: its route's rate_delay=, else [delivery]
// rate_delay.
func (a *Agent) rateDelay(d *destination) time.Duration {
	if d.route.HasRateDelay {
		return d.route.RateDelay
	}
	return a.cfg.RateDelay.Duration
}
