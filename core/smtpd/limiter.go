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

// clientKey is the address the per-IP limits count ip under: ip itself
// for IPv4, its network of [limits] client_ipv6_prefix_length bits for
// IPv6. One site is commonly given a whole /64 (RFC 6177), so a client
// counted by its own IPv6 address could take a fresh one for every
// connection and pass max_connections_per_ip, connection_rate_per_ip,
// message_rate_per_ip, recipient_rate_per_ip and auth_failures_per_ip as
// if they were not there.
// Postfix's anvil groups likewise (smtpd_client_ipv6_prefix_length).
func (s *Server) clientKey(ip netip.Addr) netip.Addr {
	bits := s.lim().ClientIPv6PrefixLength
	if !ip.Is6() || ip.Is4In6() || bits <= 0 || bits >= 128 {
		return ip
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.Addr()
}

// buckets are token buckets by key (an IP, a sender), refilled from the
// clock at each use; nothing runs in the background. A key in over has
// its own rate instead of rate ([limits.sender_overrides]).
type buckets struct {
	mu        sync.Mutex
	rate      config.Rate
	over      map[string]config.Rate
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

// off reports whether r limits nothing.
func off(r config.Rate) bool { return r.Unlimited() || r.PerMinute == 0 }

// rateOf is key's rate: its override, else the table's. b.mu is held.
func (b *buckets) rateOf(key string) config.Rate {
	if r, ok := b.over[key]; ok {
		return r
	}
	return b.rate
}

// on reports whether the rate limits anything now, for some key.
func (b *buckets) on() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !off(b.rate) || len(b.over) > 0
}

// onFor reports whether key's rate limits anything now.
func (b *buckets) onFor(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !off(b.rateOf(key))
}

// take spends one token of key's bucket; it reports false when the bucket
// is empty. An unlimited rate always allows.
func (b *buckets) take(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rateOf(key)
	if off(r) {
		return true
	}
	bk, ok := b.m[key]
	if !ok {
		bk = &bucket{tokens: float64(r.Burst), last: now}
		b.m[key] = bk
		if len(b.m) >= b.nextSweep {
			b.sweep(now)
		}
	}
	refill(bk, r, now)
	if bk.tokens < 1 {
		return false
	}
	bk.tokens--
	return true
}

// give returns n tokens take spent for key, up to the burst: the things
// they were spent on did not happen after all. A key without a bucket
// has a full one.
func (b *buckets) give(key string, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r := b.rateOf(key); !r.Unlimited() {
		if bk, ok := b.m[key]; ok {
			bk.tokens = min(float64(r.Burst), bk.tokens+float64(n))
		}
	}
}

// setRate changes the rate and the overrides (a reload); each bucket
// keeps its tokens, up to its new burst. A rate turned off leaves them as
// they are: clamped to its burst (-1), every bucket came back empty, and
// a token short, when the rate was turned on again.
func (b *buckets) setRate(r config.Rate, over map[string]config.Rate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rate, b.over = r, over
	for k, bk := range b.m {
		if kr := b.rateOf(k); !off(kr) {
			bk.tokens = min(bk.tokens, float64(kr.Burst))
		}
	}
}

func refill(bk *bucket, r config.Rate, now time.Time) {
	if el := now.Sub(bk.last); el > 0 {
		bk.tokens = min(float64(r.Burst), bk.tokens+el.Minutes()*float64(r.PerMinute))
		bk.last = now
	}
}

// sweep drops full buckets: they are the same as absent ones. Those of a
// key whose rate is off are kept as they are, as setRate keeps them.
func (b *buckets) sweep(now time.Time) {
	for k, bk := range b.m {
		r := b.rateOf(k)
		if off(r) {
			continue
		}
		refill(bk, r, now)
		if bk.tokens >= float64(r.Burst) {
			delete(b.m, k)
		}
	}
	b.nextSweep = len(b.m) + sweepEvery
}

// authFailures counts failed AUTH attempts per client IP. Failures count
// for a window of auth_lockout from the first; an IP that reaches
// auth_failures_per_ip is locked out until auth_lockout after its last
// failure. An attempt holds a place in the count while its credentials are
// checked (begin, end), so that attempts sent at once on parallel
// connections cannot together check more passwords than the limit.
type authFailures struct {
	mu        sync.Mutex
	limit     int // -1: never lock out
	window    time.Duration
	done      *sync.Cond // an attempt ended: its place is free, or counted
	m         map[netip.Addr]*failures
	nextSweep int
}

type failures struct {
	count       int
	pending     int // attempts begun and not ended
	waiting     int // attempts waiting in begin for a place
	first, last time.Time
}

func newAuthFailures(l config.Limits) *authFailures {
	a := &authFailures{limit: l.AuthFailuresPerIP, window: l.AuthLockout.Duration,
		m: map[netip.Addr]*failures{}, nextSweep: sweepEvery}
	a.done = sync.NewCond(&a.mu)
	return a
}

// locked reports whether ip may not try to authenticate now.
func (a *authFailures) locked(ip netip.Addr, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.m[ip]
	return a.limit >= 0 && ok && f.count >= a.limit && now.Before(f.last.Add(a.window))
}

// set changes the limit and the window (a reload); what was counted stays.
func (a *authFailures) set(limit int, window time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.limit, a.window = limit, window
	a.done.Broadcast() // a raised limit may free waiting attempts
}

// begin reserves an attempt for ip before its credentials are checked; it
// reports false when ip is locked out. While the failures so far and the
// attempts in progress already reach the limit, it waits for one of those
// to end: a success frees its place, a failure may lock ip out. Checking
// locked only when AUTH starts let a client that opened N connections and
// sent a guess on each at once have all N checked, whatever the limit.
func (a *authFailures) begin(ip netip.Addr, clock func() time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		// Counted without a limit too: the limit may be set (a reload)
		// before the attempt ends.
		f := a.entry(ip, clock())
		switch {
		case a.limit >= 0 && f.count >= a.limit:
			return false
		case a.limit < 0 || f.count+f.pending < a.limit:
			f.pending++
			return true
		}
		f.waiting++
		a.done.Wait()
		f.waiting--
	}
}

// end releases the attempt begin reserved, counting it when it failed.
func (a *authFailures) end(ip netip.Addr, now time.Time, failed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.done.Broadcast()
	f := a.entry(ip, now) // kept in the map while pending
	f.pending--
	if failed {
		f.count++
		f.last = now
	}
}

// entry returns ip's record, new or started afresh when the old one has
// expired. a.mu is held.
func (a *authFailures) entry(ip netip.Addr, now time.Time) *failures {
	f, ok := a.m[ip]
	switch {
	case !ok:
		f = &failures{first: now}
		a.m[ip] = f
		if len(a.m) >= a.nextSweep {
			for k, v := range a.m {
				if v.pending == 0 && v.waiting == 0 && a.expired(v, now) {
					delete(a.m, k)
				}
			}
			a.nextSweep = len(a.m) + sweepEvery
		}
	case a.expired(f, now):
		// In place: attempts in progress keep their places in it.
		f.count, f.first = 0, now
	}
	return f
}

// expired reports whether f no longer counts: its window is over and it
// is not a lockout still running.
func (a *authFailures) expired(f *failures, now time.Time) bool {
	if f.count >= a.limit {
		return !now.Before(f.last.Add(a.window))
	}
	return !now.Before(f.first.Add(a.window))
}
