package queue

import (
	"errors"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

func TestModifyEnqueueCommitsBothOrNeither(t *testing.T) {
	s, clk, dir := openTest(t)
	orig := newMsg(s, "b@example.net")
	if err := s.Enqueue(orig, []byte("original")); err != nil {
		t.Fatal(err)
	}

	// fn failing writes nothing, not even the new message.
	bad := newMsg(s, "x@example.org")
	boom := errors.New("boom")
	if _, err := s.ModifyEnqueue(orig.ID, func(m *envelope.Message) ([]Queued, error) {
		m.Rcpts[0].Status = envelope.RcptFailed
		return []Queued{{Msg: bad, Body: []byte("never")}}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.Get(bad.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted ModifyEnqueue stored its new message: %v", err)
	}

	// Done original removed, report stored and due, in one commit that
	// survives a reopen.
	report := &envelope.Message{ID: s.NewID(), Rcpts: []envelope.Recipient{{Addr: "a@example.org", Status: envelope.RcptPending}}}
	if _, err := s.ModifyEnqueue(orig.ID, func(m *envelope.Message) ([]Queued, error) {
		m.Rcpts[0].Status = envelope.RcptFailed
		return []Queued{{Msg: report, Body: []byte("report")}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Get(orig.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("done original still stored: %v", err)
	}
	if _, err := s2.Body(orig.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("done original's body still stored: %v", err)
	}
	got, err := s2.Get(report.ID)
	if err != nil || got.State != envelope.StateActive || !got.NextAttempt.Equal(clk.Now()) {
		t.Fatalf("report %+v, %v: want active and due now", got, err)
	}
	if b, err := s2.Body(report.ID); err != nil || string(b) != "report" {
		t.Errorf("report body %q, %v", b, err)
	}
	ids, _, err := s2.Due(clk.Now(), 10, nil)
	if err != nil || len(ids) != 1 || ids[0] != report.ID {
		t.Errorf("Due = %q, %v; want the report only", ids, err)
	}
}

func TestModifyEnqueueRefusesMissingOrSameID(t *testing.T) {
	s, _, _ := openTest(t)
	orig := newMsg(s, "b@example.net")
	if err := s.Enqueue(orig, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Queued{{Msg: &envelope.Message{}}, {Msg: orig.Clone()}, {}} {
		if _, err := s.ModifyEnqueue(orig.ID, func(*envelope.Message) ([]Queued, error) { return []Queued{q}, nil }); err == nil {
			t.Errorf("accepted new message %+v", q.Msg)
		}
	}
}

// A trace given with a message is stored by EnqueueMany as ModifyEnqueue
// stores it (a mailed TLS report's: what the bounce hook did), in the same
// commit, so `sluice trace ID` shows it after a reopen.
func TestEnqueueManyStoresTrace(t *testing.T) {
	s, clk, dir := openTest(t)
	with := newMsg(s, "a@example.org")
	without := newMsg(s, "b@example.org")
	if err := s.EnqueueMany([]Queued{
		{Msg: with, Body: []byte("one"), Trace: []byte(`{"entries":[]}`)},
		{Msg: without, Body: []byte("two")},
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if tr, err := s2.Trace(with.ID); err != nil || string(tr) != `{"entries":[]}` {
		t.Errorf("Trace(with) = %q, %v; want the trace given", tr, err)
	}
	if tr, err := s2.Trace(without.ID); err == nil && len(tr) > 0 {
		t.Errorf("Trace(without) = %q; want none", tr)
	}
}
