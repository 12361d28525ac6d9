package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluice-mta/sluice/core/envelope"
)

// flushChunk is how many messages Flush reschedules per synced commit.
const flushChunk = 256

// schedEntry is one key of the schedule index.
type schedEntry struct {
	id string
	at int64 // next attempt, Unix nanoseconds
}

// Flush makes every active message due now and returns how many active
// messages it found due or made due. It walks the schedule index once:
// entries already due stay as they are; the others are moved to now in
// chunks of flushChunk messages per synced commit, so a million deferred
// messages cost a few thousand syncs rather than a million.
func (s *Store) Flush() (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	now := s.clock()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte("t/"), UpperBound: []byte("t0")})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	chunk := make([]schedEntry, 0, flushChunk)
	move := func() error {
		moved, err := s.flushEntries(chunk, now, nil)
		n += moved
		chunk = chunk[:0]
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		at := int64(binary.BigEndian.Uint64(k[2:10]))
		if at <= now.UnixNano() {
			n++
			continue
		}
		// Moved entries land at now, before the iterator: never seen twice.
		chunk = append(chunk, schedEntry{id: string(k[len("t/")+9:]), at: at})
		if len(chunk) == flushChunk {
			if err := move(); err != nil {
				return n, err
			}
		}
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	if len(chunk) > 0 {
		if err := move(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// flushEntries makes the messages of es due at now in one synced commit,
// under their locks (taken in index order, the only place more than one is
// held). An entry that changed meanwhile (delivered, held, rescheduled)
// is left to whoever changed it. keep, when not nil, is asked again of
// each message as read under its lock, before the commit makes it due: one
// it refuses is left as it is. It returns how many it moved.
func (s *Store) flushEntries(es []schedEntry, now time.Time, keep func(*envelope.Message) bool) (int, error) {
	var idx []int
	for _, e := range es {
		idx = append(idx, s.lockIndex(e.id))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.locks[i].Lock()
	}
	defer func() {
		for _, i := range idx {
			s.locks[i].Unlock()
		}
	}()
	b := s.db.NewBatch()
	defer b.Close()
	var a announcements
	defer s.finish(&a)
	moved := 0
	for _, e := range es {
		m, err := s.Get(e.id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if m.State != envelope.StateActive || m.NextAttempt.UnixNano() != e.at {
			continue
		}
		if keep != nil && !keep(m) {
			continue
		}
		_ = b.Delete(schedKey(m.NextAttempt, m.ID), nil)
		m.NextAttempt = now
		if err := s.stage(b, m, nil, false, &a); err != nil {
			return 0, err
		}
		moved++
	}
	if moved == 0 {
		return 0, nil
	}
	if err := s.commit(b, countVec{}); err != nil {
		return 0, fmt.Errorf("queue: commit: %w", err)
	}
	s.wake()
	return moved, nil
}
