package queue

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A call after Close, such as a delivery recording its outcome when the
// daemon's drain timeout has already closed the queue, fails with
// ErrClosed: Pebble itself would panic ("pebble: closed") and take the
// whole process down.
func TestCallsAfterCloseFailWithErrClosed(t *testing.T) {
	s, _, _ := openTest(t)
	m := newMsg(s, "b@example.net")
	if err := s.Enqueue(m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Enqueue": func() error { return s.Enqueue(newMsg(s, "c@example.net"), []byte("x")) },
		"EnqueueMany": func() error {
			return s.EnqueueMany([]Queued{{Msg: newMsg(s, "c@example.net"), Body: []byte("x")}})
		},
		"Get":    func() error { _, err := s.Get(m.ID); return err },
		"Body":   func() error { _, err := s.Body(m.ID); return err },
		"Modify": func() error { _, err := s.Modify(m.ID, func(*envelope.Message) error { return nil }); return err },
		"Delete": func() error { return s.Delete(m.ID) },
		"Hold":   func() error { return s.Hold(m.ID) },
		"Due":    func() error { _, _, err := s.Due(time.Now(), 10, nil); return err },
		"List":   func() error { _, err := s.List(0); return err },
		"Oldest": func() error { _, err := s.Oldest(); return err },
		"Flush":  func() error { _, err := s.Flush(); return err },
		"Trace":  func() error { _, err := s.Trace(m.ID); return err },
		"PutTrace": func() error {
			return s.PutTrace(m.ID, []byte(`{}`))
		},
		"AppendTraceEvent": func() error { return s.AppendTraceEvent(m.ID, []byte(`{}`)) },
		"PruneTraces":      func() error { return s.PruneTraces(time.Now()) },
		"FlushDomain": func() error {
			_, err := s.FlushDomain("example.net", nil)
			return err
		},
	}
	for name, call := range calls {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s after Close panicked: %v", name, p)
				}
			}()
			if err := call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		}()
	}
	if st := s.Stats(); st != (Stats{}) {
		t.Errorf("Stats after Close: %+v, want zero", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Close waits for a call in progress instead of closing Pebble under it:
// a change whose commit comes after Close has begun is still committed,
// and Close then succeeds.
func TestCloseWaitsForCallsInProgress(t *testing.T) {
	s, clk, dir := openTest(t)
	m := newMsg(s, "b@example.net")
	if err := s.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	_, err := s.Modify(m.ID, func(m *envelope.Message) error {
		go func() { closed <- s.Close() }()
		// Wait until Close has begun: new calls are refused.
		for !errors.Is(s.enter(), ErrClosed) {
			s.leave()
			runtime.Gosched()
		}
		m.State = envelope.StateHeld
		return nil
	})
	if err != nil {
		t.Fatalf("change in progress when Close began: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := s2.Get(m.ID); err != nil || got.State != envelope.StateHeld {
		t.Fatalf("after reopening: %+v, %v; want the change committed", got, err)
	}
}
