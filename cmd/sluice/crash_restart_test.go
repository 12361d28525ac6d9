package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// crashConns bounds Sluice's delivery connections in the test below, so
// that the duplicates a kill can cause are bounded too.
const crashConns = 4

// TestCrashRestartsUnderLoad SIGKILLs `sluice serve` 3 to 5 times at
// random moments while clients submit (DATA and BDAT, one to three
// recipients), an admin holds, releases and deletes, and deliveries flow
// to a sink that now and then answers 451 or stalls; each time it
// restarts on the same data_dir. Some kills land exactly in SMTP's
// at-least-once window: the sink has taken the message and its 250 is
// on the way when the process dies.
//
// Afterwards every recipient a client got 250 for was delivered or its
// message deleted by an admin; a recipient got it twice only from that
// window (the earlier copy sent by a process later killed, the last on
// its connection, at most crashConns per kill); nothing a client was
// refused was delivered (one cut off after its data may be); what the
// admin held last is still held, or was delivered by the process it was
// held in, never by a later one; nothing else is left in the queue.
//
// Admin calls and kills take turns (killMu), so that each admin action
// recorded as done is known to have been done: an action cut by a kill
// would leave the test not knowing.
func TestCrashRestartsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	kills := 3 + rng.IntN(3)

	sink := testlib.NewSink(t, "127.0.0.1:0")
	sinkEv := make(chan struct{}, 1<<12)
	var armed atomic.Bool
	trapped := make(chan chan struct{}, 1) // the sink's DATA to kill at
	sink.OnData(func(n int) error {
		select {
		case sinkEv <- struct{}{}:
		default:
		}
		if armed.CompareAndSwap(true, false) {
			// Hold the 250 until the daemon is dead: Sluice never
			// learns the sink took this one.
			done := make(chan struct{})
			trapped <- done
			select {
			case <-done:
			case <-time.After(30 * time.Second):
			}
			return nil
		}
		switch {
		case n%5 == 0:
			return testlib.Temp
		case n%7 == 0:
			// A slow next hop: a peer's behaviour, not synchronisation.
			<-time.After(200 * time.Millisecond)
		}
		return nil
	})

	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, t.TempDir(), smtpAddr, adminAddr, sink.Addr)
	// writeConfig's [delivery] table is last: these keys join it.
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "workers = %d\nper_destination = %d\nbackoff_after = 100000\n", crashConns, crashConns)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, cfg)
	cl := admin.NewClient(adminAddr, "")

	type submission struct {
		fate  sendFate
		id    string
		rcpts []string
	}
	type action struct {
		id, what string
		epoch    int // the kills before it
	}
	var (
		mu      sync.Mutex
		sent    = map[string]submission{} // subject → outcome
		actions []action                  // admin actions done, in order
		errs    []string
		killMu  sync.RWMutex
		gate    = newUpGate()
		acks    = make(chan struct{}, 1<<12)
		adminEv = make(chan struct{}, 1)
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	fail := func(format string, a ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	// The sink's connection count at each kill, appended under killMu.
	var connsAt []int
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	t.Cleanup(halt) // before the daemon's own cleanup kills it

	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subj := fmt.Sprintf("r-%d-%d", c, i)
				rcpts := []string{"b1@remote.test", "b2@remote.test", "b3@remote.test"}[:1+i%3]
				fate, id, err := crashSend(smtpAddr, rcpts, testlib.Message("a@sluice.test", rcpts[0], subj, "body"), i%2 == 1)
				mu.Lock()
				sent[subj] = submission{fate, id, rcpts}
				mu.Unlock()
				if fate == fateQueued {
					for _, ch := range []chan struct{}{acks, adminEv} {
						select {
						case ch <- struct{}{}:
						default:
						}
					}
					continue
				}
				if err != nil && strings.HasPrefix(err.Error(), "5") {
					fail("%s: %v", subj, err)
				}
				select {
				case <-gate.wait():
				case <-stop:
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-adminEv:
			case <-stop:
				return
			}
			killMu.RLock()
			l, _, err := cl.QueuePage(admin.PageQuery{Limit: 8})
			if err != nil {
				fail("queue page: %v", err)
			}
			for k, m := range l.Messages {
				what := []string{"hold", "release", "hold", "release", "none"}[(n+k)%5]
				if (n+k)%13 == 0 {
					what = "delete"
				}
				if what == "none" {
					continue
				}
				_, _, err := cl.Action(m.ID, what)
				var ae *admin.APIError
				switch {
				case err == nil:
					mu.Lock()
					actions = append(actions, action{m.ID, what, len(connsAt)})
					mu.Unlock()
				case errors.As(err, &ae) && (ae.Status == 404 || ae.Status == 409):
					// Delivered meanwhile, or not held.
				default:
					fail("%s %s: %v", what, m.ID, err)
				}
			}
			killMu.RUnlock()
		}
	}()

	waitAcks := func(n int) {
		for range n {
			select {
			case <-acks:
			case <-time.After(30 * time.Second):
				t.Fatal("no client got a 250 for 30 s")
			}
		}
	}
	traps := 0
	for k := range kills {
		waitAcks(1 + rng.IntN(12))
		trap := k == 0 || k > 1 && rng.IntN(2) == 0
		if trap {
			traps++
		}
		// A func, so that a t.Fatal inside lets the admin go on.
		func() {
			killMu.Lock()
			defer killMu.Unlock()
			if trap {
				// Kill when the sink is about to answer 250 to a DATA.
				armed.Store(true)
				select {
				case done := <-trapped:
					gate.down()
					p.kill()
					close(done)
				case <-time.After(30 * time.Second):
					t.Fatal("no delivery reached the sink for 30 s")
				}
			} else {
				gate.down()
				p.kill()
			}
			connsAt = append(connsAt, sink.Conns())
			for len(acks) > 0 {
				<-acks
			}
			p = startServe(t, cfg)
		}()
		gate.up()
	}
	waitAcks(10)
	halt()
	mu.Lock()
	if len(errs) > 0 {
		t.Fatalf("%d failures, first: %s", len(errs), strings.Join(errs[:min(len(errs), 5)], "\n"))
	}
	mu.Unlock()

	// What an admin held last must be held still; the rest goes out.
	last := map[string]string{}
	heldIn := map[string]int{} // the kills before its last hold
	deleted := map[string]bool{}
	counts := map[string]int{}
	for _, a := range actions {
		last[a.id] = a.what
		heldIn[a.id] = a.epoch
		deleted[a.id] = deleted[a.id] || a.what == "delete"
		counts[a.what]++
	}
	queued := crashDrain(t, cl, sinkEv, func(m *envelope.Message) bool { return m.State == envelope.StateHeld })
	beforeRelease := len(sink.Deliveries())
	heldNow := map[string]bool{}
	for _, m := range queued {
		heldNow[m.ID] = true
		if last[m.ID] != "hold" {
			t.Errorf("%s is held, but the last admin action on it was %q", m.ID, last[m.ID])
		}
		if _, _, err := cl.Action(m.ID, "release"); err != nil {
			t.Fatalf("release %s: %v", m.ID, err)
		}
	}
	crashDrain(t, cl, sinkEv, func(*envelope.Message) bool { return false })

	// A kill cuts off what its process's connections were doing, so a
	// sink connection's number tells the process: those it had opened
	// were all numbered by the time it was dead. Appends are not in that
	// order: the sink may take a stalled message after a later process
	// sent others.
	epochOf := func(conn int) int { return sort.SearchInts(connsAt, conn) }
	seen := map[string]map[string]int{} // subject → recipient → deliveries
	copies := map[string][]int{}        // subject and recipient → its deliveries
	unknown := 0
	dels := sink.Deliveries()
	for i, d := range dels {
		subj := crashSubject(string(d.Data))
		s := sent[subj]
		if s.fate == fateNone {
			t.Errorf("%q delivered, but its client was not given 250", subj)
			continue
		}
		if seen[subj] == nil {
			seen[subj] = map[string]int{}
			if s.fate == fateUnknown {
				unknown++
			}
		}
		for _, r := range d.Rcpts {
			copies[subj+" "+r] = append(copies[subj+" "+r], i)
			seen[subj][r]++
		}
	}
	// A recipient delivered again is one whose 250 a kill cut off before
	// Sluice recorded it: each copy but the last from an earlier process
	// than the next. The window runs from the sink's 250 to the synced
	// record, and a pooled connection may carry the next message within
	// it, so a copy need not be its connection's last delivery; but a
	// kill cuts off at most a transaction or two per delivery
	// connection, far fewer than records lost for good would.
	window := map[int]bool{}
	for key, cs := range copies {
		sort.SliceStable(cs, func(x, y int) bool { return epochOf(dels[cs[x]].Conn) < epochOf(dels[cs[y]].Conn) })
		for n, j := range cs[:len(cs)-1] {
			if epochOf(dels[j].Conn) == epochOf(dels[cs[n+1]].Conn) {
				t.Errorf("%s: delivered twice by one process (%d)", key, epochOf(dels[j].Conn))
			}
			window[j] = true
		}
	}
	perKill := make([]int, kills)
	for j := range window {
		perKill[epochOf(dels[j].Conn)]++
	}
	for k, n := range perKill {
		if n > 2*crashConns {
			t.Errorf("kill %d cut off %d deliveries' 250, more than two per delivery connection (%d)", k+1, n, crashConns)
		}
	}
	accepted := 0
	for subj, s := range sent {
		if s.fate != fateQueued {
			continue
		}
		accepted++
		for _, r := range s.rcpts {
			if seen[subj][r] == 0 && !deleted[s.id] {
				t.Errorf("%s (%s) to %s: 250 given, never delivered nor deleted", subj, s.id, r)
			}
		}
		if last[s.id] != "hold" {
			continue
		}
		for _, r := range s.rcpts {
			if seen[subj][r] == 0 && !heldNow[s.id] {
				t.Errorf("%s (%s): held last, gone from the queue, %s not delivered", subj, s.id, r)
			}
			// An attempt under way when it was held may end; a process
			// started after the hold must not start one before the
			// release above.
			for _, j := range copies[subj+" "+r] {
				if e := epochOf(dels[j].Conn); e > heldIn[s.id] && (e < kills || j < beforeRelease) {
					t.Errorf("%s (%s): held after %d kills, delivered to %s after %d", subj, s.id, heldIn[s.id], r, e)
				}
			}
		}
	}
	t.Logf("%d kills (%d at the sink's 250), %d of %d submissions given 250, %d cut before their 250 delivered, admin %v, %d left held, deliveries cut off by each kill %v",
		kills, traps, accepted, len(sent), unknown, counts, len(queued), perKill)
	if accepted == 0 || counts["hold"] == 0 || counts["release"] == 0 {
		t.Fatal("the test did not exercise what it is for")
	}
}

// crashDrain waits until every queued message is one keep says may stay,
// and returns those. It polls the admin API, waking at each delivery or
// every 50 ms, for at most 20 s.
func crashDrain(t *testing.T, cl *admin.Client, ev <-chan struct{}, keep func(*envelope.Message) bool) []*envelope.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var all []*envelope.Message
		p := admin.PageQuery{}
		for {
			l, _, err := cl.QueuePage(p)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, l.Messages...)
			if l.Next == "" {
				break
			}
			p.After = l.Next
		}
		left := 0
		for _, m := range all {
			if !keep(m) {
				left++
			}
		}
		if left == 0 {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued after 20 s", left)
		}
		select {
		case <-ev:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func crashSubject(data string) string {
	_, s, ok := strings.Cut(data, "\r\nSubject: ")
	if !ok {
		return ""
	}
	s, _, _ = strings.Cut(s, "\r\n")
	return s
}

// upGate tells clients when the daemon is up again: the channel wait
// returns is closed while it is up.
type upGate struct {
	mu sync.Mutex
	ch chan struct{}
}

func newUpGate() *upGate {
	g := &upGate{ch: make(chan struct{})}
	close(g.ch)
	return g
}

func (g *upGate) wait() <-chan struct{} { g.mu.Lock(); defer g.mu.Unlock(); return g.ch }
func (g *upGate) down()                 { g.mu.Lock(); g.ch = make(chan struct{}); g.mu.Unlock() }
func (g *upGate) up()                   { g.mu.Lock(); close(g.ch); g.mu.Unlock() }
