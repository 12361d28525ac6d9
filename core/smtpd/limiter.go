package smtpd

import (
	"net/netip"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// sweepEvery bounds the memory of the per-client tables: once a table has
// grown by this many keys since its last sweep, entries that no longer
// hold anything back are dropped.
const sweepEvery = 4096

// buckets are token buckets by key (an IP, a sender), refilled from the
// clock at each use; nothing runs in the background.
type buckets struct {
	rate config.Rate

	mu        sync.Mutex
	m         map[string]*bucket
	nextSweep int
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(r config.Rate) *buckets {
	return &buckets{rate: r, m: map[string]*bucket{}, nextSweep: sweepEvery}
}

// take spends one token of key's bucket; it reports false when the bucket
// is empty. An unlimited rate always allows.
func (b *buckets) take(key string, now time.Time) bool {
	if b.rate.Unlimited() || b.rate.PerMinute == 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, ok := b.m[key]
	if !ok {
		bk = &bucket{tokens: float64(b.rate.Burst), last: now}
		b.m[key] = bk
		if len(b.m) >= b.nextSweep {
			b.sweep(now)
		}
	}
	b.refill(bk, now)
	if bk.tokens < 1 {
		return false
	}
	bk.tokens--
	return true
}

func (b *buckets) refill(bk *bucket, now time.Time) {
	if el := now.Sub(bk.last); el > 0 {
		bk.tokens = min(float64(b.rate.Burst), bk.tokens+el.Minutes()*float64(b.rate.PerMinute))
		bk.last = now
	}
}

// sweep drops full buckets: they are the same as absent ones.
func (b *buckets) sweep(now time.Time) {
	for k, bk := range b.m {
		b.refill(bk, now)
		if bk.tokens >= float64(b.rate.Burst) {
			delete(b.m, k)
		}
	}
	b.nextSweep = len(b.m) + sweepEvery
}

// authFailures counts failed AUTH attempts per client IP. Failures count
// for a window of auth_lockout from the first; an IP that reaches
// auth_failures_per_ip is locked out until auth_lockout after its last
// failure.
type authFailures struct {
	limit  int // -1: never lock out
	window time.Duration

	mu        sync.Mutex
	m         map[netip.Addr]*failures
	nextSweep int
}

type failures struct {
	count       int
	first, last time.Time
}

func newAuthFailures(l config.Limits) *authFailures {
	return &authFailures{limit: l.AuthFailuresPerIP, window: l.AuthLockout.Duration,
		m: map[netip.Addr]*failures{}, nextSweep: sweepEvery}
}

// locked reports whether ip may not try to authenticate now.
func (a *authFailures) locked(ip netip.Addr, now time.Time) bool {
	if a.limit < 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.m[ip]
	return ok && f.count >= a.limit && now.Before(f.last.Add(a.window))
}

// fail records a failed attempt from ip.
func (a *authFailures) fail(ip netip.Addr, now time.Time) {
	if a.limit < 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.m[ip]
	if !ok || a.expired(f, now) {
		f = &failures{first: now}
		a.m[ip] = f
		if len(a.m) >= a.nextSweep {
			for k, v := range a.m {
				if a.expired(v, now) {
					delete(a.m, k)
				}
			}
			a.nextSweep = len(a.m) + sweepEvery
		}
	}
	f.count++
	f.last = now
}

// expired reports whether f no longer counts: its window is over and it
// is not a lockout still running.
func (a *authFailures) expired(f *failures, now time.Time) bool {
	if f.count >= a.limit {
		return !now.Before(f.last.Add(a.window))
	}
	return !now.Before(f.first.Add(a.window))
}
