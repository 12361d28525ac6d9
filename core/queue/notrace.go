package queue

import (
	"errors"
	"fmt"
)

// NoTraceError is Trace's answer for a message that is queued but has no
// trace: no stage ran on it (a report, when no stage has the bounce hook;
// every report queued by sluice before bounce traces were kept) and no
// delivery attempt was recorded since. An upgraded data_dir holds such
// reports; "no such message" would be false for them, as `sluice queue
// show` finds them. It is ErrNotFound to errors.Is, so the admin API
// still answers 404 for the trace it does not have.
type NoTraceError struct{ ID string }

func (e *NoTraceError) Error() string {
	return fmt.Sprintf("queue: message %s is queued but has no trace yet: no stage ran on it (a report, unless a stage has the bounce hook) and no delivery attempt was recorded", e.ID)
}

// Is makes a NoTraceError match ErrNotFound.
func (e *NoTraceError) Is(target error) bool { return target == ErrNotFound }

// noTrace turns the ErrNotFound of a trace lookup into a NoTraceError
// when the message itself is queued; other errors pass unchanged.
func (s *Store) noTrace(id string, err error) error {
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	_, c, gerr := s.db.Get(metaKey(id))
	if gerr != nil {
		return err
	}
	c.Close()
	return &NoTraceError{ID: id}
}
