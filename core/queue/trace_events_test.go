package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

func TestTraceEventsMergedAndPruned(t *testing.T) {
	s, clk, _ := openTest(t)
	old := newMsg(s, "x@y")
	if err := s.EnqueueTraced(old, []byte("b"), []byte(`{"id":"`+old.ID+`","entries":[],"outcome":"continue"}`)); err != nil {
		t.Fatal(err)
	}
	// Two events in the same clock tick keep the order they were added in.
	for _, ev := range []string{`{"n":1}`, `{"n":2}`} {
		if err := s.AppendTraceEvent(old.ID, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Minute)
	if err := s.AppendTraceEvent(old.ID, []byte(`{"n":3}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTraceEvent(old.ID, []byte(`{"n":`)); err == nil {
		t.Error("an event that is not JSON was stored")
	}
	want := `{"id":"` + old.ID + `","entries":[],"outcome":"continue","deliveries":[{"n":1},{"n":2},{"n":3}]}`
	if tr, err := s.Trace(old.ID); err != nil || string(tr) != want {
		t.Fatalf("trace %s %v\nwant  %s", tr, err, want)
	}

	// A message enqueued without a pipeline trace still gets one.
	clk.Add(48 * time.Hour)
	young := newMsg(s, "x@y")
	if err := s.Enqueue(young, []byte("b")); err != nil {
		t.Fatal(err)
	}
	// Queued, so not "no such message": ErrNotFound to errors.Is, with
	// the reason.
	var nt *NoTraceError
	if _, err := s.Trace(young.ID); !errors.Is(err, ErrNotFound) || !errors.As(err, &nt) || nt.ID != young.ID {
		t.Fatalf("trace before any event: %v", err)
	}
	if err := s.AppendTraceEvent(young.ID, []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if tr, err := s.Trace(young.ID); err != nil || string(tr) != `{"id":"`+young.ID+`","deliveries":[{"n":1}]}` {
		t.Fatalf("trace of an untraced message: %s %v", tr, err)
	}

	// Delivered, so no longer queued: its trace goes at the next prune.
	if _, err := s.Modify(old.ID, func(m *envelope.Message) error { m.Rcpts[0].Status = envelope.RcptDelivered; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.PruneTraces(clk.Now().Add(-24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tr, err := s.Trace(old.ID); err != ErrNotFound {
		t.Fatalf("old trace or its events not pruned: %s %v", tr, err)
	}
	n := 0
	if err := s.scan("r/", func(k, _ []byte) bool { n++; return true }); err != nil || n != 1 {
		t.Fatalf("%d trace keys left after pruning, want the young event only (%v)", n, err)
	}
	if _, err := s.Trace(young.ID); err != nil {
		t.Fatalf("young trace pruned: %v", err)
	}
}

// TestTraceEventsConcurrent appends from many goroutines, as concurrent
// deliveries of one message may: no event is lost.
func TestTraceEventsConcurrent(t *testing.T) {
	s, _, _ := openTest(t)
	m := newMsg(s, "x@y")
	if err := s.EnqueueTraced(m, []byte("b"), []byte(`{"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.AppendTraceEvent(m.ID, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	tr, err := s.Trace(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Deliveries []struct{ N int } `json:"deliveries"`
	}
	if err := json.Unmarshal(tr, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, d := range doc.Deliveries {
		seen[d.N] = true
	}
	if len(doc.Deliveries) != 50 || len(seen) != 50 {
		t.Fatalf("%d events, %d distinct, want 50", len(doc.Deliveries), len(seen))
	}
}
