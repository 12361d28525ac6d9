package delivery

import (
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// RFC 3463 X.4.5: mail system congestion; we hold off a destination that
// keeps failing instead of hammering it.
var backingOff = reply.Reply{Code: 451, Enhanced: [3]int{4, 4, 5}, Text: "Destination is in backoff after repeated failures, will retry"}

// backoffStarted is tryAddr's word that the destination went into backoff
// while the attempt waited for a connection slot: nothing was dialled.
type backoffStarted struct{ until time.Time }

func (e *backoffStarted) Error() string {
	return "destination in backoff until " + e.until.UTC().Format(time.RFC3339)
}

// backoffs tracks, per destination key, consecutive all-temporary
// attempts and the time before which the destination is not tried.
type backoffs struct {
	mu        sync.Mutex
	m         map[string]*backoffState
	nextSweep int // sweep when m reaches this many entries
}

// backoffSweepEvery bounds the table: once it has grown by this many
// destinations since its last sweep, the entries that say nothing any
// more are dropped. Without it, every destination that ever failed stayed
// (a site's backscatter to dead domains, 100,000 of them: +12 MB of heap
// with the queue empty).
const backoffSweepEvery = 4096

type backoffState struct {
	fails int       // consecutive attempts with temporary failures only
	level int       // backoffs in a row; the next one lasts twice as long
	until time.Time // not tried before this
	last  time.Time // the last failure counted
	// self: the destination's hosts included this MTA when last tried,
	// so that its mail skipped during the backoff does not go to a
	// fallback relay either (fallback.go).
	self bool
}

func newBackoffs() *backoffs {
	return &backoffs{m: map[string]*backoffState{}, nextSweep: backoffSweepEvery}
}

// sweep drops the destinations whose backoff has ended and that have not
// failed for forget: no message has tried them since, so their counts
// describe nothing current. b.mu is held.
func (b *backoffs) sweep(now time.Time, forget time.Duration) {
	for k, st := range b.m {
		if !now.Before(st.until) && now.Sub(st.last) > forget {
			delete(b.m, k)
		}
	}
	b.nextSweep = len(b.m) + backoffSweepEvery
}

// blocked reports whether key is in backoff at now, and until when.
func (b *backoffs) blocked(key string, now time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[key]
	if st == nil || !now.Before(st.until) {
		return time.Time{}, false
	}
	return st.until, true
}

// reset forgets every destination's failures and backoff.
func (b *backoffs) reset() {
	b.mu.Lock()
	clear(b.m)
	b.mu.Unlock()
}

// record notes an attempt's outcomes for key. Any final answer (delivered
// or a permanent refusal) shows the destination works and clears its
// state. Otherwise, when site says the destination itself failed (no
// server answered, or one said 421), it counts a failure; a 421, the
// opt.BackoffAfter'th failure in a row, or any failure right after a
// backoff starts a backoff twice as long as the previous one. Recipients
// deferred one by one by a server that answered count nothing, and so
// does a failure while a backoff runs: no attempt starts then, so it is
// one that was under way when the backoff began (one of per_destination
// connections a rate-limiting server answered 421 at once), and is the
// same failure again, not a reason to double the backoff each time. It
// returns the new backoff's end, or zero.
func (b *backoffs) record(key string, now time.Time, res map[string]outcome, site, saw421 bool, opt Routing) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range res {
		if o.status != envelope.RcptPending {
			delete(b.m, key)
			return time.Time{}
		}
	}
	if len(res) == 0 || !site {
		return time.Time{}
	}
	st := b.m[key]
	if st != nil && now.Before(st.until) {
		st.last = now
		return time.Time{}
	}
	if st == nil {
		if len(b.m) >= b.nextSweep {
			b.sweep(now, opt.forgetAfter())
		}
		st = &backoffState{}
		b.m[key] = st
	}
	st.last = now
	st.fails++
	if !saw421 && st.level == 0 && st.fails < opt.BackoffAfter {
		return time.Time{}
	}
	d := opt.Backoff << min(st.level, 20)
	st.level++
	st.until = now.Add(min(d, opt.BackoffMax))
	st.fails = 0
	return st.until
}
