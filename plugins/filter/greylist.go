package filter

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// The greylisting reply: a temporary failure a legitimate MTA retries
// (RFC 6647; RFC 3463 §3.8 X.7.1).
const greylistText = "Greylisted, try again later"

// Triplets group clients by network, since a sender's retry may come from
// another host of the same pool, as RFC 6647 discusses.
const (
	greyPrefix4 = 24
	greyPrefix6 = 64
)

// greylist decides at the rcpt hook. Its state is kept in a store, so a
// new plugin process over the same state_dir remembers it.
type greylist struct {
	greylistSettings
	now func() time.Time
	log *slog.Logger // reports the state directory's hand-over

	mu    sync.Mutex
	st    *store
	swept time.Time // the last sweep

	owned   chan struct{} // closed once this process owns state_dir
	closing chan struct{}
}

// followEvery is how often a follower (see store) tries the lock besides
// at each call, so that it takes over soon after its predecessor exits,
// before a later reload can start another process that would take the
// lock first and leave this one's changes in memory only.
var followEvery = time.Second

func openGreylist(s greylistSettings, now func() time.Time, log *slog.Logger) (*greylist, error) {
	g := &greylist{greylistSettings: s, now: now, log: log}
	st, err := openStore(s.stateDir, func(r *record) bool { return g.live(r, now()) }, s.dryRun, log)
	if err != nil {
		return nil, err
	}
	g.st = st
	g.owned, g.closing = make(chan struct{}), make(chan struct{})
	if st.locked {
		close(g.owned)
	} else if !st.readOnly {
		go g.follow(followEvery)
	}
	if g.maxEntries > 0 && len(st.recs) > g.maxEntries {
		// max_entries was lowered: write the smaller state now.
		g.room(now())
		if err := st.compact(); err != nil {
			_ = st.close()
			return nil, err
		}
	}
	return g, nil
}

// live reports whether r still means something at now.
func (g *greylist) live(r *record, now time.Time) bool {
	switch {
	case r.Client || !r.Pass.IsZero():
		return now.Sub(r.Pass) <= g.whitelistTTL
	default:
		return now.Sub(r.First) <= g.expiry
	}
}

// clientNet is the network a client IP is greylisted as.
func clientNet(ip string) (netip.Addr, string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if ip == "" {
			ip = "unknown" // a record needs a network to be stored
		}
		return netip.Addr{}, strings.ToLower(ip)
	}
	a = a.Unmap()
	bits := greyPrefix6
	if a.Is4() {
		bits = greyPrefix4
	}
	p, _ := a.Prefix(bits)
	return a, p.String()
}

// check decides for one recipient: a nil verdict passes.
func (g *greylist) check(t *sdk.Txn, rcpt string) (*sdk.Verdict, string, error) {
	if t.Session.AuthUser != "" {
		return nil, "greylist: authenticated client", nil
	}
	if t.Session.RelayClient {
		// The site's own hosts: Postfix's permit_mynetworks comes
		// before the policy service.
		return nil, "greylist: client in relay_networks", nil
	}
	ip, network := clientNet(t.Session.ClientIP)
	if ip.IsValid() && netlist.Contains(g.skip, ip) {
		return nil, "greylist: client in skip_networks", nil
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.st.follow(); err != nil {
		return nil, "", err
	}

	client := g.st.get((&record{Client: true, Net: network}).key())
	if client != nil && !g.live(client, now) {
		client = nil
	}
	if client != nil && g.clientAfter > 0 && client.Passes >= g.clientAfter {
		return nil, "greylist: client network " + network + " whitelisted", g.refresh(client, now)
	}

	g.sweep(now)
	key := &record{Net: network, From: greySender(t.Envelope.MailFrom), Rcpt: strings.ToLower(rcpt)}
	r := g.st.get(key.key())
	if r != nil && !g.live(r, now) {
		r = nil
	}
	if r != nil && r.Pass.IsZero() && r.First.After(now) {
		// A first attempt stamped in the future was stamped by a clock
		// since stepped back: counting from it would greylist the
		// triplet until the clock caught up. Start over instead.
		r = nil
	}
	switch {
	case r != nil && !r.Pass.IsZero():
		return nil, "greylist: triplet whitelisted", g.refresh(r, now)
	case r != nil && now.Sub(r.First) < g.delay:
		v := sdk.Tempfail(codeTempfail, statusTempfail, greylistText)
		why := fmt.Sprintf("greylist: retry too early (%s of %s)", now.Sub(r.First).Round(time.Second), g.delay)
		return &v, why, nil
	case r != nil:
		waited := now.Sub(r.First).Round(time.Second)
		if client == nil {
			g.room(now) // the client record is a new one
		}
		passed := *r
		passed.First, passed.Pass = time.Time{}, now
		if err := g.st.put(&passed); err != nil {
			return nil, "", err
		}
		c := &record{Client: true, Net: network, Passes: 1, Pass: now}
		if client != nil {
			c.Passes = client.Passes + 1
		}
		return nil, fmt.Sprintf("greylist: passed after %s", waited), g.st.put(c)
	default:
		dropped := g.room(now)
		key.First = now
		if err := g.st.put(key); err != nil {
			return nil, "", err
		}
		v := sdk.Tempfail(codeTempfail, statusTempfail, greylistText)
		why := "greylist: first attempt of " + network + " <" + key.From + "> <" + key.Rcpt + ">"
		if dropped > 0 {
			why += fmt.Sprintf(" (max_entries %d reached: the %d oldest entries dropped)", g.maxEntries, dropped)
		}
		return &v, why, nil
	}
}

// room makes space for one more record when the state holds max_entries:
// it drops the dead records and, if that is not enough, the first eighth
// in eviction order, so that a flood of new triplets costs one sort per
// maxEntries/8 of them. It returns how many live records it dropped.
// Expiry alone does not bound the state: a client cycling through
// senders or recipients adds a record per RCPT and each stays for expiry.
func (g *greylist) room(now time.Time) int {
	if g.maxEntries <= 0 || len(g.st.recs) < g.maxEntries {
		return 0
	}
	g.swept = now // this is a sweep too
	g.st.drop(func(r *record) bool { return !g.live(r, now) })
	ranks := make([]uint64, 0, len(g.st.recs))
	for _, r := range g.st.recs {
		ranks = append(ranks, evictRank(r))
	}
	n := len(ranks) - g.maxEntries + 1
	if n <= 0 {
		return 0
	}
	n = max(n, g.maxEntries/8)
	slices.Sort(ranks)
	cut, atCut := ranks[n-1], 0 // drop every rank below cut, and enough at it
	for _, v := range ranks[:n] {
		if v == cut {
			atCut++
		}
	}
	for k, r := range g.st.recs {
		switch v := evictRank(r); {
		case v < cut:
			delete(g.st.recs, k)
		case v == cut && atCut > 0:
			delete(g.st.recs, k)
			atCut--
		}
	}
	return n
}

// evictRank orders records for room: first attempts, oldest first,
// before triplets that passed and client networks, least recently passed
// first. Losing a first attempt costs a legitimate sender one more
// greylisting delay; losing a whitelisting costs its next message one.
func evictRank(r *record) uint64 {
	if r.firstAttempt() {
		return uint64(max(r.First.UnixNano(), 0))
	}
	return 1<<63 | uint64(max(r.Pass.UnixNano(), 0))
}

// sweepEvery is how often check drops the records that are no longer
// live. Without it a store that only ever gains new triplets (a spammer
// cycling through senders) would never compact (see store.put) and would
// keep every record of the process's life in memory and in its log.
const sweepEvery = 10 * time.Minute

// sweep drops dead records from memory at most once per sweepEvery; the
// log then compacts them away as store.put decides.
func (g *greylist) sweep(now time.Time) {
	if now.Sub(g.swept) < sweepEvery && !g.swept.After(now) {
		return
	}
	g.swept = now
	g.st.drop(func(r *record) bool { return !g.live(r, now) })
}

// refresh moves a whitelisted record's last pass to now. It is written
// at most once per whitelist_ttl/64, which keeps a busy sender from
// costing an fsync per message while shortening its whitelisting by
// under 2%.
func (g *greylist) refresh(r *record, now time.Time) error {
	if now.Sub(r.Pass) < g.whitelistTTL/64 {
		return nil
	}
	c := *r
	c.Pass = now
	return g.st.put(&c)
}

// follow tries, every d until it succeeds or the greylist closes, to
// take state_dir over from the process before this one.
func (g *greylist) follow(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-g.closing:
			return
		case <-t.C:
		}
		g.mu.Lock()
		err := g.st.follow()
		owns := g.st.locked
		g.mu.Unlock()
		if err != nil {
			g.log.Warn("greylist: cannot take the state directory over", "state_dir", g.stateDir, "err", err)
		}
		if owns {
			close(g.owned)
			return
		}
	}
}

// close releases the state files.
func (g *greylist) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.closing:
	default:
		close(g.closing)
	}
	return g.st.close()
}
