package queue

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Queued is a new message for ModifyEnqueue to store: its envelope (ID
// set, see NewID) and body.
type Queued struct {
	Msg  *envelope.Message
	Body []byte
	// Trace, when not nil, is stored as the message's pipeline trace, as
	// EnqueueTraced stores it (a report's: what the bounce hook did).
	Trace []byte
}

// ModifyEnqueue is Modify whose fn may also return new messages, stored
// and scheduled in the same synced commit as the change. Delivery records
// a failure and queues the bounce reporting it this way, so that a crash
// can neither lose the bounce nor, by redoing the attempt, send it twice.
func (s *Store) ModifyEnqueue(id string, fn func(m *envelope.Message) ([]Queued, error)) (*envelope.Message, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	mu := s.lock(id)
	mu.Lock()
	defer mu.Unlock()
	old, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	m := old.Clone()
	extra, err := fn(m)
	if err != nil {
		return nil, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	// Every entry announced to a hint stays announced until the commit
	// is done (see schedHint).
	var announced announcements
	defer s.finish(&announced)
	if old.State == envelope.StateActive {
		_ = b.Delete(schedKey(old.NextAttempt, id), nil)
	}
	d := delta(old, m)
	if m.Done() {
		d = delta(old, nil)
		_ = b.Delete(metaKey(id), nil)
		_ = b.Delete(bodyKey(id), nil)
	} else if err := s.stage(b, m, nil, false, &announced); err != nil {
		return nil, err
	}
	wake := m.State == envelope.StateActive && !m.Done() && !m.NextAttempt.After(s.clock())
	for _, q := range extra {
		if q.Msg == nil || q.Msg.ID == "" || q.Msg.ID == id {
			return nil, errors.New("queue: new message without its own id")
		}
		if q.Msg.State == "" {
			q.Msg.State = envelope.StateActive
		}
		if q.Msg.NextAttempt.IsZero() {
			q.Msg.NextAttempt = s.clock()
		}
		if err := s.stage(b, q.Msg, q.Body, true, &announced); err != nil {
			return nil, err
		}
		if q.Trace != nil {
			_ = b.Set(traceKey(q.Msg.ID), q.Trace, nil)
		}
		d.add(delta(nil, q.Msg))
		wake = wake || q.Msg.State == envelope.StateActive
	}
	if err := s.commit(b, d); err != nil {
		return nil, fmt.Errorf("queue: commit: %w", err)
	}
	if wake {
		s.wake()
	}
	return m, nil
}

// announcements counts the entries a commit announced to the hints.
type announcements struct{ sched, meta int }

// finish ends the announcements after the commit (or its failure).
func (s *Store) finish(a *announcements) {
	for range a.sched {
		s.hint.done()
	}
	for range a.meta {
		s.metaHint.done()
	}
}

// stage adds m (and body, when not nil) to b, with its schedule entry
// when active. A new message's key is announced to the message hint, a
// schedule entry to the schedule hint; both are counted in a.
func (s *Store) stage(b *pebble.Batch, m *envelope.Message, body []byte, isNew bool, a *announcements) error {
	meta, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if isNew {
		s.metaHint.insertAt(idNanos(m.ID))
		a.meta++
	}
	_ = b.Set(metaKey(m.ID), meta, nil)
	if body != nil {
		_ = b.Set(bodyKey(m.ID), body, nil)
	}
	if m.State == envelope.StateActive {
		s.hint.insert(m.NextAttempt)
		a.sched++
		_ = b.Set(schedKey(m.NextAttempt, m.ID), nil, nil)
	}
	return nil
}

// EnqueueMany stores and schedules new messages in one synced commit, as
// a bulk import does (the queue-scale benchmark fills a queue this way).
// Each message's ID must be set; State and NextAttempt default as in
// Enqueue.
func (s *Store) EnqueueMany(qs []Queued) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	b := s.db.NewBatch()
	defer b.Close()
	var announced announcements
	defer s.finish(&announced)
	var d countVec
	now := s.clock()
	for _, q := range qs {
		if q.Msg == nil || q.Msg.ID == "" {
			return errors.New("queue: message without id")
		}
		if q.Msg.State == "" {
			q.Msg.State = envelope.StateActive
		}
		if q.Msg.NextAttempt.IsZero() {
			q.Msg.NextAttempt = now
		}
		body := q.Body
		if body == nil {
			body = []byte{}
		}
		if err := s.stage(b, q.Msg, body, true, &announced); err != nil {
			return err
		}
		if q.Trace != nil {
			_ = b.Set(traceKey(q.Msg.ID), q.Trace, nil)
		}
		d.add(delta(nil, q.Msg))
	}
	if err := s.commit(b, d); err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	s.wake()
	return nil
}
