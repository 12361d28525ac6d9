package queue

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// idAt is an id as NewID makes it at t.
func idAt(t time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	_, _ = rand.Read(b[8:])
	return idEncoding.EncodeToString(b[:])
}

func walkIDs(t *testing.T, s *Store) []string {
	t.Helper()
	var ids []string
	if err := s.Walk("", func(m *envelope.Message) bool { ids = append(ids, m.ID); return true }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// Oldest and a listing's first page start at the message hint, past the
// messages already removed, and still see a message queued later with an
// earlier id, or with an id NewID would not make.
func TestMessageHint(t *testing.T) {
	s, clk, _ := openTest(t)
	base := clk.Now()
	var ids []string
	for i := range 50 {
		m := newMsg(s, "x@example.net")
		m.ID = idAt(base.Add(time.Duration(i) * time.Second))
		m.Received = base.Add(time.Duration(i) * time.Second)
		if err := s.Enqueue(m, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	for _, id := range ids[:49] {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if o, err := s.Oldest(); err != nil || !o.Equal(base.Add(49*time.Second)) {
		t.Fatalf("oldest %v %v", o, err)
	}
	if s.metaHint.low != idNanos(ids[49]) {
		t.Fatalf("hint %d, want the live message's %d: the next walk starts among the removed", s.metaHint.low, idNanos(ids[49]))
	}
	// An earlier id queued now, below the hint.
	early := newMsg(s, "x@example.net")
	early.ID, early.Received = idAt(base.Add(-time.Hour)), base.Add(-time.Hour)
	if err := s.Enqueue(early, nil); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Oldest(); err != nil || !o.Equal(early.Received) {
		t.Fatalf("oldest %v %v, want the earlier id's %v", o, err, early.Received)
	}
	// Ids NewID does not make sort anywhere; "!" sorts before every id.
	for _, id := range []string{"zzz", "!first"} {
		m := newMsg(s, "x@example.net")
		m.ID, m.Received = id, base.Add(-2*time.Hour)
		if err := s.Enqueue(m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := walkIDs(t, s); !slices.Equal(got, []string{"!first", early.ID, ids[49], "zzz"}) {
		t.Fatalf("walk %v", got)
	}
	if o, err := s.Oldest(); err != nil || !o.Equal(base.Add(-2*time.Hour)) {
		t.Fatalf("oldest %v %v", o, err)
	}
}

// Walks race enqueues of ids below the hint and removals from the front:
// the hint must never move past a message a walk could not see.
func TestMessageHintNeverMissesConcurrentEnqueues(t *testing.T) {
	s, _, _ := openTest(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	live := map[string]bool{}
	add := func(at time.Time) {
		m := newMsg(s, "x@example.net")
		m.ID = idAt(at)
		mu.Lock()
		live[m.ID] = true // before the commit: the remover may take it at once
		mu.Unlock()
		if err := s.Enqueue(m, nil); err != nil {
			t.Error(err)
		}
	}
	for i := range 200 {
		add(base.Add(time.Duration(i) * time.Second))
	}
	var wg sync.WaitGroup
	wg.Go(func() { // ids below the first queued, rising: a later one never lowers the hint below a missed one
		for i := range 150 {
			add(base.Add(time.Duration(i-1000) * time.Second))
		}
	})
	wg.Go(func() { // removals from the front, moving the hint up
		for range 150 {
			var id string
			_ = s.Walk("", func(m *envelope.Message) bool { id = m.ID; return false })
			if id == "" {
				return
			}
			if err := s.Delete(id); err != nil && err != ErrNotFound {
				t.Error(err)
				return
			}
			mu.Lock()
			delete(live, id)
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for range 300 {
			if _, err := s.Oldest(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	got := walkIDs(t, s)
	want := make([]string, 0, len(live))
	for id := range live {
		want = append(want, id)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("walk sees %d messages, %d are queued", len(got), len(want))
	}
}
