package queue

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Flush makes every active message due now, across several chunks, and
// leaves held messages alone.
func TestFlushMakesEveryActiveMessageDue(t *testing.T) {
	s, clk, _ := openTest(t)
	const deferred, due, held = 2*flushChunk + 7, 10, 5
	var qs []Queued
	for i := range deferred + due + held {
		m := newMsg(s, "x@example.net")
		switch {
		case i < deferred:
			m.NextAttempt = clk.Now().Add(time.Duration(i+1) * time.Minute)
		case i < deferred+due:
			m.NextAttempt = clk.Now().Add(-time.Minute)
		default:
			m.State = envelope.StateHeld
		}
		qs = append(qs, Queued{Msg: m, Body: []byte("x")})
	}
	if err := s.EnqueueMany(qs); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	n, err := s.Flush()
	if err != nil || n != deferred+due {
		t.Fatalf("flush %d %v, want %d", n, err, deferred+due)
	}
	ids, next, err := s.Due(clk.Now(), 10*(deferred+due), nil)
	if err != nil || len(ids) != deferred+due || !next.IsZero() {
		t.Fatalf("due after flush: %d, next %v, %v", len(ids), next, err)
	}
	m, err := s.Get(qs[0].Msg.ID)
	if err != nil || !m.NextAttempt.Equal(clk.Now()) {
		t.Fatalf("stored next attempt %v %v, want %v", m.NextAttempt, err, clk.Now())
	}
	if m, _ := s.Get(qs[len(qs)-1].Msg.ID); m.State != envelope.StateHeld {
		t.Fatalf("held message is %s", m.State)
	}
	checkCounts(t, s, "after flush")
}

// A message delivered (removed) or held while Flush runs is neither
// brought back nor scheduled.
func TestFlushRacesChanges(t *testing.T) {
	s, clk, _ := openTest(t)
	var qs []Queued
	for i := range 4 * flushChunk {
		m := newMsg(s, "x@example.net")
		m.NextAttempt = clk.Now().Add(time.Duration(i+1) * time.Second)
		qs = append(qs, Queued{Msg: m, Body: []byte("x")})
	}
	if err := s.EnqueueMany(qs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.Flush(); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		for i := len(qs) - 1; i >= 0; i -= 2 { // from the far end, to meet the flush
			id := qs[i].Msg.ID
			var err error
			if i%4 == 1 {
				err = s.Hold(id)
			} else {
				_, err = s.Modify(id, func(m *envelope.Message) error {
					m.Rcpts[0].Status = envelope.RcptDelivered
					return nil
				})
			}
			if err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	ids, _, err := s.Due(clk.Now().Add(time.Hour), 10*len(qs), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(qs)/2 {
		t.Fatalf("%d scheduled, want the %d untouched", len(ids), len(qs)/2)
	}
	for i := len(qs) - 1; i >= 0; i -= 2 {
		m, err := s.Get(qs[i].Msg.ID)
		switch {
		case i%4 == 1 && (err != nil || m.State != envelope.StateHeld):
			t.Fatalf("held message %d: %v %v", i, m, err)
		case i%4 != 1 && !errors.Is(err, ErrNotFound):
			t.Fatalf("delivered message %d is back: %v %v", i, m, err)
		}
	}
	checkCounts(t, s, "after the race")
}
