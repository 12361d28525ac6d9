package queue

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t *testing.T) (*Store, *fakeClock, string) {
	t.Helper()
	dir := t.TempDir()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk, dir
}

func newMsg(s *Store, rcpts ...string) *envelope.Message {
	m := &envelope.Message{ID: s.NewID(), From: "a@example.org"}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, envelope.Recipient{Addr: r, Status: envelope.RcptPending})
	}
	return m
}

func TestEnqueueGetBodyReopen(t *testing.T) {
	s, clk, dir := openTest(t)
	m := newMsg(s, "b@example.net")
	if err := s.Enqueue(m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Get(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.From != m.From || len(got.Rcpts) != 1 || got.State != envelope.StateActive {
		t.Fatalf("got %+v", got)
	}
	body, err := s2.Body(m.ID)
	if err != nil || string(body) != "Subject: x\r\n\r\nhi\r\n" {
		t.Fatalf("body %q %v", body, err)
	}
	ids, _, err := s2.Due(clk.Now(), 10, nil)
	if err != nil || len(ids) != 1 || ids[0] != m.ID {
		t.Fatalf("due %v %v", ids, err)
	}
}

func TestDueOrderAndNext(t *testing.T) {
	s, clk, _ := openTest(t)
	var ids []string
	for i := 0; i < 3; i++ {
		m := newMsg(s, "x@y")
		m.NextAttempt = clk.Now().Add(time.Duration(i) * time.Minute)
		if err := s.Enqueue(m, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	due, next, err := s.Due(clk.Now(), 10, nil)
	if err != nil || len(due) != 1 || due[0] != ids[0] {
		t.Fatalf("due %v %v", due, err)
	}
	if !next.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("next %v", next)
	}
	clk.Add(time.Minute)
	due, next, _ = s.Due(clk.Now(), 10, func(id string) bool { return id == ids[0] })
	if len(due) != 1 || due[0] != ids[1] || !next.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("due %v next %v", due, next)
	}
	clk.Add(time.Minute)
	due, _, _ = s.Due(clk.Now(), 2, nil)
	if len(due) != 2 {
		t.Fatalf("limit: %v", due)
	}
}

func TestHoldReleaseRetryDelete(t *testing.T) {
	s, clk, _ := openTest(t)
	m := newMsg(s, "x@y")
	m.NextAttempt = clk.Now().Add(time.Hour)
	if err := s.Enqueue(m, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Hold(m.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Hour)
	if due, _, _ := s.Due(clk.Now(), 10, nil); len(due) != 0 {
		t.Fatalf("held message is due: %v", due)
	}
	if err := s.Retry(m.ID); err == nil {
		t.Fatal("retry of a held message succeeded")
	}
	if err := s.Release(m.ID); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := s.Due(clk.Now(), 10, nil); len(due) != 1 {
		t.Fatalf("released message not due: %v", due)
	}
	// Releasing an active message is refused: it is not held, and
	// releasing it must not start an attempt ahead of its schedule.
	if _, err := s.Modify(m.ID, func(m *envelope.Message) error {
		m.NextAttempt = clk.Now().Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(m.ID); err == nil || !strings.Contains(err.Error(), "not held") {
		t.Fatalf("release of an active message: %v", err)
	}
	if due, _, _ := s.Due(clk.Now(), 10, nil); len(due) != 0 {
		t.Fatalf("refused release made it due: %v", due)
	}
	if err := s.Delete(m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(m.ID); err != ErrNotFound {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := s.Body(m.ID); err != ErrNotFound {
		t.Fatalf("body after delete: %v", err)
	}
	if due, _, _ := s.Due(clk.Now(), 10, nil); len(due) != 0 {
		t.Fatalf("deleted message still indexed: %v", due)
	}
}

func TestModifyMovesIndexAndRemovesDone(t *testing.T) {
	s, clk, _ := openTest(t)
	m := newMsg(s, "a@x", "b@x")
	if err := s.Enqueue(m, []byte("body")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Modify(m.ID, func(m *envelope.Message) error {
		m.Rcpts[0].Status = envelope.RcptDelivered
		m.NextAttempt = clk.Now().Add(5 * time.Minute)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if due, next, _ := s.Due(clk.Now(), 10, nil); len(due) != 0 || !next.Equal(clk.Now().Add(5*time.Minute)) {
		t.Fatalf("due %v next %v", due, next)
	}
	if _, err := s.Modify(m.ID, func(m *envelope.Message) error {
		m.Rcpts[1].Status = envelope.RcptFailed
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(m.ID); err != ErrNotFound {
		t.Fatalf("done message kept: %v", err)
	}
	if due, next, _ := s.Due(clk.Now().Add(time.Hour), 10, nil); len(due) != 0 || !next.IsZero() {
		t.Fatalf("index left behind: %v %v", due, next)
	}
}

func TestConcurrentEnqueue(t *testing.T) {
	s, _, _ := openTest(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			m := newMsg(s, fmt.Sprintf("r%d@x", i))
			errs <- s.Enqueue(m, []byte("b"))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := s.List(0)
	if err != nil || len(msgs) != 64 {
		t.Fatalf("list: %d %v", len(msgs), err)
	}
	c, _ := s.Counts()
	if c[envelope.StateActive] != 64 {
		t.Fatalf("counts %v", c)
	}
}

func TestIDsAreOrdered(t *testing.T) {
	s, clk, _ := openTest(t)
	a := s.NewID()
	clk.Add(time.Nanosecond)
	b := s.NewID()
	if len(a) != 20 || a >= b {
		t.Fatalf("ids %q %q", a, b)
	}
}

func BenchmarkEnqueueParallel(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := make([]byte, 4096)
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := &envelope.Message{ID: s.NewID(), Rcpts: []envelope.Recipient{{Addr: "x@y", Status: envelope.RcptPending}}}
			if err := s.Enqueue(m, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestTraceStoredAndPruned(t *testing.T) {
	s, clk, _ := openTest(t)
	old := newMsg(s, "x@y")
	if err := s.EnqueueTraced(old, []byte("b"), []byte(`{"old":1}`)); err != nil {
		t.Fatal(err)
	}
	clk.Add(48 * time.Hour)
	young := newMsg(s, "x@y")
	if err := s.EnqueueTraced(young, []byte("b"), []byte(`{"young":1}`)); err != nil {
		t.Fatal(err)
	}
	// A delivered message keeps its trace.
	if _, err := s.Modify(old.ID, func(m *envelope.Message) error { m.Rcpts[0].Status = envelope.RcptDelivered; return nil }); err != nil {
		t.Fatal(err)
	}
	if tr, err := s.Trace(old.ID); err != nil || string(tr) != `{"old":1}` {
		t.Fatalf("trace after delivery: %q %v", tr, err)
	}
	// An old message still queued (held, quarantined) keeps its trace:
	// it says why the message waits. Its neighbours' go.
	held := newMsg(s, "x@y")
	clk.Add(-47 * time.Hour) // an id after old's, before young's
	held.ID = s.NewID()
	clk.Add(47 * time.Hour)
	held.State = envelope.StateHeld
	if err := s.EnqueueTraced(held, []byte("b"), []byte(`{"held":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTraceEvent(held.ID, []byte(`{"event":1}`)); err != nil {
		t.Fatal(err)
	}
	gone := newMsg(s, "x@y")
	clk.Add(-46 * time.Hour)
	gone.ID = s.NewID()
	clk.Add(46 * time.Hour)
	if err := s.EnqueueTraced(gone, []byte("b"), []byte(`{"gone":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTraceEvent(gone.ID, []byte(`{"event":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PruneTraces(clk.Now().Add(-24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Trace(old.ID); err != ErrNotFound {
		t.Fatalf("old trace not pruned: %v", err)
	}
	if _, err := s.Trace(gone.ID); err != ErrNotFound {
		t.Fatalf("trace of an old deleted message not pruned: %v", err)
	}
	if tr, err := s.Trace(held.ID); err != nil || !strings.Contains(string(tr), `"held":1`) || !strings.Contains(string(tr), `"event":1`) {
		t.Fatalf("trace of an old message still held: %q %v", tr, err)
	}
	if tr, err := s.Trace(young.ID); err != nil || string(tr) != `{"young":1}` {
		t.Fatalf("young trace pruned: %q %v", tr, err)
	}
}

// TestDueNeverMissesConcurrentEnqueues races enqueues against scans: the
// scan hint must never move past an entry a scan could not see.
func TestDueNeverMissesConcurrentEnqueues(t *testing.T) {
	s, _, _ := openTest(t)
	s.clock = time.Now // real time, so entries spread over distinct instants
	const n = 300
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/6; i++ {
				if err := s.Enqueue(newMsg(s, "x@y"), nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	scan := func() {
		ids, _, err := s.Due(time.Now().Add(time.Hour), 1000, func(id string) bool { return seen[id] })
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			seen[id] = true
			// Reschedule far away, as a delivery attempt would.
			if _, err := s.Modify(id, func(m *envelope.Message) error { m.NextAttempt = m.NextAttempt.Add(24 * time.Hour); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		scan()
	}
	scan()
	if len(seen) != n {
		t.Fatalf("scans saw %d of %d enqueued messages", len(seen), n)
	}
}

// A queue another process holds open is refused with a message that says
// so, not Pebble's bare "resource temporarily unavailable". The other
// process is this test binary, holding the queue until its stdin closes.
func TestOpenQueueInUse(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), holdQueueEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "is in use by another running sluice") {
		t.Fatalf("Open: %v", err)
	}
}

// holdQueueEnv makes this test binary open the queue it names, say "held"
// and keep it until stdin closes (TestOpenQueueInUse's other process).
const holdQueueEnv = "SLUICE_QUEUE_TEST_HOLD"

func TestMain(m *testing.M) {
	if os.Getenv(fatalChildEnv) != "" {
		fatalChild()
	}
	if dir := os.Getenv(killChildEnv); dir != "" {
		enqueueUntilKilled(dir)
	}
	if dir := os.Getenv(holdQueueEnv); dir != "" {
		s, err := Open(dir, Options{})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("held")
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
