package queue

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluice-mta/sluice/core/envelope"
)

// The number of messages per state is kept durably, in the same synced
// commit as the change that moves it, so Counts is cheap at any queue size
// and right after a crash without a scan at open.
//
// A single counter key would need a lock held across every sync to keep
// its writes in commit order, which would undo group commit. Instead the
// counts are split over countShards keys c/<shard>; a commit that changes
// the counts takes any free shard, adds its delta to that shard's value
// and writes the new value in its batch, holding only that shard across
// its sync. Each shard key's last committed value is therefore exact, and
// the sum over the shards is the queue's count.

// countShards bounds how many count-changing commits sync concurrently
// without waiting on one another; more than the workers plus sessions
// that commit at once on a busy server.
const countShards = 256

// counted are the states with a slot; any other state is counted in the
// last slot and reported as "unknown".
var counted = [...]envelope.State{envelope.StateActive, envelope.StateHeld, envelope.StateQuarantined, "unknown"}

type countVec [len(counted)]int64

func slot(st envelope.State) int {
	for i, s := range counted[:len(counted)-1] {
		if s == st {
			return i
		}
	}
	return len(counted) - 1
}

func (v countVec) zero() bool { return v == countVec{} }

func (v *countVec) add(d countVec) {
	for i := range v {
		v[i] += d[i]
	}
}

type countShard struct {
	mu sync.Mutex
	n  countVec // as last committed in c/<shard>
}

// counts is the Store's view of the c/ keys.
type counts struct {
	shards [countShards]countShard
	total  [len(counted)]atomic.Int64
}

func countKey(shard int) []byte { return []byte{'c', '/', byte(shard)} }

func encodeCounts(v countVec) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, n := range v {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return b
}

// commit commits b synced, with delta added to the counts in the same
// batch when it is not zero.
func (s *Store) commit(b *pebble.Batch, delta countVec) error {
	defer s.fatalOnPanic()
	if delta.zero() {
		return b.Commit(pebble.Sync)
	}
	i, sh := s.counts.acquire()
	defer sh.mu.Unlock()
	n := sh.n
	n.add(delta)
	_ = b.Set(countKey(i), encodeCounts(n), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	sh.n = n
	for j, d := range delta {
		s.counts.total[j].Add(d)
	}
	return nil
}

// acquire returns a shard nobody holds if there is one (starting at a
// random shard), else waits for one; locked either way.
func (c *counts) acquire() (int, *countShard) {
	start := rand.IntN(countShards)
	for k := range countShards {
		i := (start + k) % countShards
		if c.shards[i].mu.TryLock() {
			return i, &c.shards[i]
		}
	}
	c.shards[start].mu.Lock()
	return start, &c.shards[start]
}

// loadCounts reads the c/ keys. A queue without them (written before the
// counts were kept) is counted once by a scan and the result stored.
func (s *Store) loadCounts() error {
	found := false
	var bad error
	err := s.scan("c/", func(k, v []byte) bool {
		if len(k) != 3 || len(v) != 8*len(counted) {
			bad = fmt.Errorf("queue: corrupt count key %q", k)
			return false
		}
		found = true
		sh := &s.counts.shards[k[2]]
		for j := range sh.n {
			sh.n[j] = int64(binary.BigEndian.Uint64(v[8*j:]))
			s.counts.total[j].Add(sh.n[j])
		}
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil || found {
		return err
	}
	v, err := s.countByScan()
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	return s.commit(b, v)
}

// countByScan counts the stored messages per state by reading them all.
func (s *Store) countByScan() (countVec, error) {
	var v countVec
	var bad error
	err := s.scan("m/", func(_, val []byte) bool {
		var m struct {
			State envelope.State `json:"state"`
		}
		if err := json.Unmarshal(val, &m); err != nil {
			bad = err
			return false
		}
		v[slot(m.State)]++
		return true
	})
	if err == nil {
		err = bad
	}
	return v, err
}

// Counts returns the number of messages per state, from the counts kept
// with every commit: no scan. States with no messages are included.
func (s *Store) Counts() (map[envelope.State]int, error) {
	c := make(map[envelope.State]int, len(counted))
	for i, st := range counted {
		n := s.counts.total[i].Load()
		if st == "unknown" && n == 0 {
			continue
		}
		c[st] = int(n)
	}
	return c, nil
}

// Oldest returns when the earliest-queued message still in the queue was
// received (zero when the queue is empty). Ids are time-ordered, so it is
// the first live message key, found from the message hint (see Walk).
func (s *Store) Oldest() (time.Time, error) {
	var t time.Time
	err := s.Walk("", func(m *envelope.Message) bool {
		t = m.Received
		return false
	})
	return t, err
}

// delta returns the change in counts when a message stored as old (nil:
// not stored before) is stored as m (nil: removed).
func delta(old, m *envelope.Message) countVec {
	var d countVec
	if old != nil {
		d[slot(old.State)]--
	}
	if m != nil {
		d[slot(m.State)]++
	}
	return d
}
