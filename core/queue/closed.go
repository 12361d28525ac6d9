package queue

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by a Store's methods once Close has begun. Pebble
// panics on a closed database; a caller still running after the daemon's
// drain timeout (a delivery whose peer answers late, an admin request)
// gets this error instead. It is temporary: whatever such a write would
// have acknowledged is not acknowledged (the SMTP client gets a 451, the
// delivery stays queued and is tried again after the restart).
var ErrClosed = errors.New("queue: closed (shutting down)")

// closeGate counts the calls using the database, so that Close waits for
// them rather than closing Pebble under them, and refuses new ones. A call
// may enter again while it is in (Modify reads through Get): entering
// never blocks, so that cannot deadlock a Close waiting for it. It is one
// atomic counter, not a lock: every queue call passes through it.
type closeGate struct {
	n        atomic.Int64 // calls in, plus closing once Close has begun
	idle     chan struct{}
	idleOnce sync.Once
}

// closing is added to the count by Close: a count of exactly closing
// means no call is in any more.
const closing = 1 << 62

// enter admits one call, or returns ErrClosed once Close has begun. Every
// nil return must be paired with leave.
func (s *Store) enter() error {
	if s.gate.n.Add(1)&closing != 0 {
		s.leave()
		return ErrClosed
	}
	return nil
}

// leave ends a call admitted by enter.
func (s *Store) leave() {
	if s.gate.n.Add(-1) == closing {
		s.gate.idleOnce.Do(func() { close(s.gate.idle) })
	}
}

// shut refuses new calls and waits for those in to finish. It is called
// once, from Close.
func (s *Store) shut() {
	s.gate.idle = make(chan struct{})
	if s.gate.n.Add(closing) != closing {
		<-s.gate.idle
	}
}
