package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluice-mta/sluice/core/envelope"
)

// checkCounts fails unless Counts agrees with a scan of every message.
func checkCounts(t *testing.T, s *Store, when string) map[envelope.State]int {
	t.Helper()
	got, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.countByScan()
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range counted {
		if got[st] != int(v[i]) {
			t.Fatalf("%s: counts %v, scan finds %v (order %v)", when, got, v, counted)
		}
	}
	return got
}

// The counts are written in the same synced commit as the change they
// count, so a crash at any moment, with commits in flight and unsynced
// data partly lost, leaves them equal to what a full scan finds.
func TestCountsSurviveCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(1, 1))
	total := 0
	for round := range 4 {
		s, err := Open("q", Options{Clock: clk.Now, fs: fs})
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, s, fmt.Sprintf("round %d after reopen", round))
		var wg sync.WaitGroup
		var mu sync.Mutex
		started := 0
		crashAt := 150 + rng.IntN(100) // of 8×60 operations
		reached, crashed := make(chan struct{}), make(chan struct{})
		tick := func() {
			mu.Lock()
			if started++; started == crashAt {
				close(reached)
			}
			mu.Unlock()
		}
		for w := range 8 {
			seed := int64(round*100 + w)
			wg.Go(func() { churn(s, seed, 60, crashed, tick) })
		}
		// Crash once crashAt operations have started, while the others run
		// (or once they all stopped early, which the checks below report).
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-reached:
		case <-done:
			t.Fatalf("round %d: the workers stopped after %d operations, before the crash point %d", round, started, crashAt)
		}
		cfg := vfs.CrashCloneCfg{}
		if round%2 == 1 {
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}
		}
		fs = fs.CrashClone(cfg)
		close(crashed)
		wg.Wait()
		checkCounts(t, s, fmt.Sprintf("round %d before the crash", round))
		_ = s.Close()
		s, err = Open("q", Options{Clock: clk.Now, fs: fs})
		if err != nil {
			t.Fatal(err)
		}
		c := checkCounts(t, s, fmt.Sprintf("round %d after the crash", round))
		total = c[envelope.StateActive] + c[envelope.StateHeld] + c[envelope.StateQuarantined]
		_ = s.Close()
	}
	if total == 0 {
		t.Fatal("the churn left nothing queued; the test checked only zeros")
	}
}

// churn runs random queue operations until it has done n or crashed is
// closed, calling tick as each one starts.
func churn(s *Store, seed int64, n int, crashed <-chan struct{}, tick func()) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var mine []string
	for range n {
		select {
		case <-crashed:
			return
		default:
		}
		tick()
		var err error
		switch op := rng.IntN(10); {
		case op < 5 || len(mine) == 0:
			m := newMsg(s, "a@example.net", "b@example.com")
			if rng.IntN(4) == 0 {
				m.State = envelope.StateQuarantined
			}
			err = s.Enqueue(m, []byte("x"))
			mine = append(mine, m.ID)
		case op == 5:
			err = s.Hold(mine[rng.IntN(len(mine))])
		case op == 6:
			err = s.Release(mine[rng.IntN(len(mine))])
		case op == 7:
			err = s.Delete(mine[rng.IntN(len(mine))])
		case op == 8:
			// One recipient delivered: the message stays, its state too.
			_, err = s.Modify(mine[rng.IntN(len(mine))], func(m *envelope.Message) error {
				m.Rcpts[0].Status = envelope.RcptDelivered
				return nil
			})
		default:
			// A failure that removes the message and queues its bounce.
			_, err = s.ModifyEnqueue(mine[rng.IntN(len(mine))], func(m *envelope.Message) ([]Queued, error) {
				for i := range m.Rcpts {
					m.Rcpts[i].Status = envelope.RcptFailed
				}
				b := newMsg(s, "a@example.org")
				return []Queued{{Msg: b, Body: []byte("bounce")}}, nil
			})
		}
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotHeld) {
			return // a commit refused after the crash clone; the test checks the store
		}
	}
}

// A queue written before the counts were kept has no c/ keys: Open counts
// it once by a scan and stores the result.
func TestCountsRebuiltForOldQueue(t *testing.T) {
	s, clk, dir := openTest(t)
	for i := range 5 {
		m := newMsg(s, "x@example.net")
		if i < 2 {
			m.State = envelope.StateHeld
		}
		if err := s.Enqueue(m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.DeleteRange([]byte("c/"), []byte("c0"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c := checkCounts(t, s2, "reopen")
	if c[envelope.StateActive] != 3 || c[envelope.StateHeld] != 2 || c[envelope.StateQuarantined] != 0 {
		t.Fatalf("counts %v", c)
	}
	if _, ok := c["unknown"]; ok {
		t.Fatalf("an empty unknown slot is reported: %v", c)
	}
}

// Walk pages through the queue from a cursor, and Oldest is the first
// message's arrival.
func TestWalkPagesAndOldest(t *testing.T) {
	s, clk, _ := openTest(t)
	if o, err := s.Oldest(); err != nil || !o.IsZero() {
		t.Fatalf("oldest of an empty queue %v %v", o, err)
	}
	var ids []string
	first := clk.Now()
	for range 7 {
		m := newMsg(s, "x@example.net")
		m.Received = clk.Now()
		if err := s.Enqueue(m, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		clk.Add(time.Second)
	}
	if err := s.Delete(ids[0]); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Oldest(); err != nil || !o.Equal(first.Add(time.Second)) {
		t.Fatalf("oldest %v %v, want the second message's %v", o, err, first.Add(time.Second))
	}
	var got []string
	after := ""
	for range 10 {
		var page []string
		if err := s.Walk(after, func(m *envelope.Message) bool {
			page = append(page, m.ID)
			return len(page) < 3
		}); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if fmt.Sprint(got) != fmt.Sprint(ids[1:]) {
		t.Fatalf("pages %v, want %v", got, ids[1:])
	}
}

// EnqueueMany stores every message with its body, schedules the active
// ones and counts them, in one commit.
func TestEnqueueMany(t *testing.T) {
	s, clk, _ := openTest(t)
	var qs []Queued
	for i := range 10 {
		m := newMsg(s, "x@example.net")
		if i%5 == 0 {
			m.State = envelope.StateHeld
		}
		qs = append(qs, Queued{Msg: m, Body: []byte(fmt.Sprint("body ", i))})
	}
	if err := s.EnqueueMany(qs); err != nil {
		t.Fatal(err)
	}
	c := checkCounts(t, s, "after EnqueueMany")
	if c[envelope.StateActive] != 8 || c[envelope.StateHeld] != 2 {
		t.Fatalf("counts %v", c)
	}
	ids, _, err := s.Due(clk.Now(), 100, nil)
	if err != nil || len(ids) != 8 {
		t.Fatalf("due %v %v", ids, err)
	}
	if b, err := s.Body(qs[7].Msg.ID); err != nil || string(b) != "body 7" {
		t.Fatalf("body %q %v", b, err)
	}
	if err := s.EnqueueMany([]Queued{{Msg: &envelope.Message{}}}); err == nil {
		t.Fatal("a message without id was stored")
	}
}
