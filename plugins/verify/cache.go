package verify

import (
	"container/list"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// status is what a probe found of an address.
type status uint8

const (
	unverified    status = iota // the next hop could not be asked, or answered 4xx
	deliverable                 // it took the recipient (2xx)
	undeliverable               // it refused it (5xx)
)

func (s status) String() string {
	return [...]string{"unverified", "deliverable", "undeliverable"}[s]
}

// answer is what the stage goes by for one recipient.
type answer struct {
	status status
	// reply is the next hop's refusal (undeliverable), or why the
	// address could not be verified (unverified).
	reply string
	// cached: the answer is an earlier probe's, age old.
	cached bool
	age    time.Duration
	// note says why an older answer stands after a probe (see record).
	note string
}

// entry is a remembered result. An unverified one is kept in memory
// only, for tempfail_refresh_time (see record).
type entry struct {
	key     string
	status  status
	updated time.Time // when the next hop last answered so
	reply   string    // its refusal, for an undeliverable address
	// tried is when a later probe last failed to change it (the
	// refresh deferred, or refused a deliverable address): the next
	// refresh waits negative_refresh_time from then. Not persisted.
	tried time.Time
	elem  *list.Element
}

// cache holds the results, most recently used first, bounded by
// max_entries, and writes them through to the store. The unverified
// answers have a list and a cap of their own: an address a dictionary
// attack makes up while the next hop is down is kept too, and must not
// push out a known user's answer, which is what serves while it is down.
type cache struct {
	set *settings
	log *slog.Logger

	mu    sync.Mutex
	byKey map[string]*entry
	lru   *list.List // of the known *entry, the most recently used in front
	ulru  *list.List // of the unverified ones, the same way
	st    *store     // nil: memory only
}

func newCache(set *settings, log *slog.Logger) *cache {
	return &cache{set: set, log: log, byKey: map[string]*entry{}, lru: list.New(), ulru: list.New()}
}

// listOf is the list e is on: an entry's status never changes in place
// (record puts a new one).
func (c *cache) listOf(e *entry) *list.List {
	if e.status == unverified {
		return c.ulru
	}
	return c.lru
}

// expired reports whether e is too old to answer from at now: every
// answer but deliverable lasts negative_expire_time, as verify(8)'s
// NEGATIVE_ENTRY_EXPIRED takes any status but OK.
func (c *cache) expired(e *entry, now time.Time) bool {
	life := c.set.negExpire
	if e.status == deliverable {
		life = c.set.posExpire
	}
	return now.Sub(e.updated) >= life
}

// stale reports whether e is to be asked again at now: past its refresh
// time (Postfix's address_verify_*_refresh_time; tempfail_refresh_time
// for an unverified answer), and not tried in vain within
// negative_refresh_time.
func (c *cache) stale(e *entry, now time.Time) bool {
	refresh := c.set.negRefresh
	switch e.status {
	case deliverable:
		refresh = c.set.posRefresh
	case unverified:
		refresh = c.set.tempRefresh
	}
	return now.Sub(e.updated) >= refresh && (e.tried.IsZero() || now.Sub(e.tried) >= c.set.negRefresh)
}

// lookup returns the answer for key at now and true, or false when the
// next hop must be asked: nothing kept, or what is kept expired or due a
// refresh.
func (c *cache) lookup(key string, now time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.live(key, now)
	if e == nil || c.stale(e, now) {
		return answer{}, false
	}
	return c.answerOf(e, now, ""), true
}

// live returns key's entry, used now, or nil (an expired one is dropped).
func (c *cache) live(key string, now time.Time) *entry {
	e := c.byKey[key]
	if e == nil {
		return nil
	}
	if c.expired(e, now) {
		c.remove(e)
		return nil
	}
	c.listOf(e).MoveToFront(e.elem)
	return e
}

func (c *cache) answerOf(e *entry, now time.Time, note string) answer {
	return answer{status: e.status, reply: e.reply, cached: true, age: now.Sub(e.updated), note: note}
}

// record keeps what a probe of key found at now and returns the answer
// to give. As Postfix's verify(8) does, a probe that fails never
// clobbers a deliverable address before it expires (an outage of the
// next hop's directory, answering 550 for everyone, must not refuse
// every known user for days): the address stays deliverable and is
// asked again negative_refresh_time later. A probe that could not
// verify the address keeps whatever was known; with nothing known, or
// only an earlier unverified answer, the recipient is unverified, and
// that is kept for tempfail_refresh_time: verify(8) stores a deferred
// probe's status as it stores a bounce's, so the RCPTs until then get
// the same 450 without a probe each (a dictionary attack while the next
// hop is down, a message to a list).
func (c *cache) record(key string, o answer, now time.Time) answer {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.live(key, now)
	switch {
	case o.status == deliverable || o.status == undeliverable && (old == nil || old.status != deliverable):
		c.put(&entry{key: key, status: o.status, updated: now, reply: o.reply}, now)
		return o
	case o.status == unverified && (old == nil || old.status == unverified):
		if c.set.tempRefresh > 0 {
			c.put(&entry{key: key, status: unverified, updated: now, reply: o.reply}, now)
		}
		return o
	case old != nil:
		old.tried = now
		note := "; asked again: " + o.status.String()
		if o.reply != "" {
			note += " (" + o.reply + ")"
		}
		if o.status == undeliverable {
			note += ", kept deliverable until it expires"
		}
		return c.answerOf(old, now, note)
	}
	return o
}

// put keeps e in place of key's entry and writes it through, then drops
// the least recently used past max_entries.
func (c *cache) put(e *entry, now time.Time) {
	if old := c.byKey[e.key]; old != nil {
		c.remove(old)
	}
	e.elem = c.listOf(e).PushFront(e)
	c.byKey[e.key] = e
	c.trim()
	if c.st == nil {
		return
	}
	if recs, ok, err := c.st.takeOver(); err != nil {
		c.log.Warn("verify: state directory", "err", err)
	} else if ok {
		c.merge(recs, now)
		c.compact(now)
	}
	if !persisted(e) {
		return
	}
	if err := c.st.append(c.recordOf(e)); err != nil {
		c.log.Warn("verify: writing the state directory: the result is kept in memory only", "err", err)
	}
	if c.st.due(c.lru.Len()) {
		c.compact(now)
	}
}

func (c *cache) remove(e *entry) {
	c.listOf(e).Remove(e.elem)
	delete(c.byKey, e.key)
}

// trim drops the least recently used past max_entries, the known and
// the unverified answers each on their own.
func (c *cache) trim() {
	for _, l := range []*list.List{c.lru, c.ulru} {
		for c.set.maxEntries > 0 && l.Len() > c.set.maxEntries {
			c.remove(l.Back().Value.(*entry))
		}
	}
}

// merge adds recs (read from the state directory) to the cache, each
// where it is newer than what the cache holds, or where the cache has
// the address only unverified (a known answer stands through a probe
// that defers, as in record: a reload's new process must not keep its
// 450 for an address the old one found deliverable meanwhile), the most
// recent last used.
func (c *cache) merge(recs []record, now time.Time) {
	slices.SortFunc(recs, func(a, b record) int { return a.Updated.Compare(b.Updated) })
	for _, r := range recs {
		e := &entry{key: r.Addr, status: undeliverable, updated: r.Updated, reply: r.Reply}
		if r.Deliverable {
			e.status = deliverable
		}
		if c.expired(e, now) {
			continue
		}
		if old := c.byKey[e.key]; old != nil {
			if old.status != unverified && !e.updated.After(old.updated) {
				continue
			}
			c.remove(old)
		}
		e.elem = c.lru.PushFront(e)
		c.byKey[e.key] = e
	}
	c.trim()
}

// compact rewrites the state directory with the live entries.
func (c *cache) compact(now time.Time) {
	recs := make([]record, 0, c.lru.Len())
	for el := c.lru.Back(); el != nil; el = el.Prev() {
		if e := el.Value.(*entry); !c.expired(e, now) {
			recs = append(recs, c.recordOf(e))
		}
	}
	if err := c.st.compact(recs); err != nil {
		c.log.Warn("verify: compacting the state directory", "err", err)
	}
}

// persisted reports whether e goes to the state directory. An
// unverified answer does not: it lasts hours, not days, a restart
// asking again costs one probe an address, and a record says only
// deliverable or not, so read back (after a restart, or by an older
// Sluice) it would be undeliverable: reject_code for an address the
// next hop never refused.
func persisted(e *entry) bool { return e.status != unverified }

func (c *cache) recordOf(e *entry) record {
	return record{Addr: e.key, Hop: c.set.hop, Deliverable: e.status == deliverable, Updated: e.updated, Reply: e.reply}
}

// attach loads what st holds and writes through to it from now on.
func (c *cache) attach(st *store, recs []record, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st = st
	c.merge(recs, now)
	if st.writes() {
		c.compact(now)
	}
}

// close lets the state directory go.
func (c *cache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == nil {
		return nil
	}
	err := c.st.close()
	c.st = nil
	return err
}
