package queue

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// FlushDomain makes due the active messages with a recipient still
// waiting in the domain, on every page of the queue, and nothing else:
// other domains, subdomains, held mail and a domain's delivered recipient
// keep their schedule.
func TestFlushDomainOnlyThatDomain(t *testing.T) {
	s, clk, _ := openTest(t)
	later := clk.Now().Add(time.Hour)
	type row struct {
		rcpts   []string
		due     bool // next attempt already passed
		held    bool
		deliver int // the recipient at this index is delivered (-1: none)
		flushed bool
	}
	rows := map[int]row{
		0:                    {rcpts: []string{"x@Dest.Example."}, deliver: -1, flushed: true},
		1:                    {rcpts: []string{"x@dest.example"}, due: true, deliver: -1, flushed: true},
		2:                    {rcpts: []string{"x@dest.example"}, held: true, deliver: -1},
		3:                    {rcpts: []string{"x@dest.example", "y@other.example"}, deliver: 0},
		4:                    {rcpts: []string{"x@sub.dest.example"}, deliver: -1},
		5:                    {rcpts: []string{"y@other.example", "x@dest.example"}, deliver: -1, flushed: true},
		flushDomainPage + 10: {rcpts: []string{"\"a@b\"@dest.example"}, deliver: -1, flushed: true},
	}
	var qs []Queued
	for i := range flushDomainPage + 20 {
		clk.Add(time.Millisecond) // ids in this order
		r, ok := rows[i]
		if !ok {
			r = row{rcpts: []string{"y@other.example"}, deliver: -1}
		}
		m := newMsg(s, r.rcpts...)
		m.NextAttempt = later
		if r.due {
			m.NextAttempt = clk.Now()
		}
		if r.held {
			m.State = envelope.StateHeld
		}
		if r.deliver >= 0 {
			m.Rcpts[r.deliver].Status = envelope.RcptDelivered
		}
		qs = append(qs, Queued{Msg: m, Body: []byte("x")})
	}
	if err := s.EnqueueMany(qs); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	var found []string
	n, err := s.FlushDomain("dest.example", func(m *envelope.Message) { found = append(found, m.ID) })
	if err != nil || n != 4 {
		t.Fatalf("FlushDomain: %d, %v; want 4", n, err)
	}
	for i, q := range qs {
		m, err := s.Get(q.Msg.ID)
		if err != nil {
			t.Fatal(err)
		}
		r := rows[i]
		moved := m.NextAttempt.Equal(clk.Now())
		if moved != (r.flushed && !r.due) || m.State != q.Msg.State {
			t.Errorf("message %d %v: next attempt %v, state %s", i, r.rcpts, m.NextAttempt, m.State)
		}
		if slices.Contains(found, m.ID) != r.flushed {
			t.Errorf("message %d %v: found %v", i, r.rcpts, slices.Contains(found, m.ID))
		}
	}
	ids, _, err := s.Due(clk.Now(), 100, nil)
	if err != nil || len(ids) != 4 {
		t.Fatalf("due after FlushDomain: %v %v, want the 4", ids, err)
	}
	checkCounts(t, s, "after FlushDomain")
}

// A message whose recipient in the domain is delivered after FlushDomain
// read it, and before it moves it, keeps its schedule: its other
// recipients are not the domain's to hurry.
func TestFlushDomainRecipientDeliveredMeanwhile(t *testing.T) {
	s, clk, _ := openTest(t)
	due := newMsg(s, "x@dest.example")
	due.NextAttempt = clk.Now()
	clk.Add(time.Millisecond)
	later := clk.Now().Add(time.Hour)
	m := newMsg(s, "x@dest.example", "y@other.example")
	m.NextAttempt = later
	for _, q := range []*envelope.Message{due, m} {
		if err := s.Enqueue(q, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Second)
	// The due message is found (read before m, ids being in time order)
	// while the pass reads on: m's recipient is delivered then.
	n, err := s.FlushDomain("dest.example", func(f *envelope.Message) {
		if f.ID != due.ID {
			return
		}
		if _, err := s.Modify(m.ID, func(m *envelope.Message) error {
			m.Rcpts[0].Status = envelope.RcptDelivered
			return nil
		}); err != nil {
			t.Error(err)
		}
	})
	if err != nil || n != 1 {
		t.Fatalf("FlushDomain: %d, %v; want the due message only", n, err)
	}
	if got, err := s.Get(m.ID); err != nil || !got.NextAttempt.Equal(later) {
		t.Fatalf("message whose dest.example recipient was delivered meanwhile: next attempt %v (%v), want %v", got.NextAttempt, err, later)
	}
}
