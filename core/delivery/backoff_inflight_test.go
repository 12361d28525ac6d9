package delivery

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Failures of attempts that were under way when a backoff began (each of
// a destination's connections answered 421 at once by a server that
// rate-limits) are that one failure, not one doubling each: 20 such 421s
// made a 1m backoff backoff_max's hour.
func TestBackoffIgnoresFailuresDuringIt(t *testing.T) {
	b := newBackoffs()
	opt := newRouting(Routing{BackoffAfter: 5, Backoff: time.Minute, BackoffMax: time.Hour}).opt
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	temp := map[string]outcome{"a@x": temporary("421 4.7.28 rate limited")}
	if until := b.record("x", now, temp, true, true, opt); !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("first 421: backoff until %v, want a minute", until)
	}
	for i := range 5 {
		if until := b.record("x", now.Add(time.Second), temp, true, true, opt); !until.IsZero() {
			t.Fatalf("421 %d of an attempt under way: a new backoff until %v", i+2, until)
		}
	}
	if until, _ := b.blocked("x", now.Add(time.Second)); !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("blocked until %v, want the first backoff's minute", until)
	}
	// Once it is over, the next failure doubles it, as before.
	now = now.Add(time.Minute)
	if until := b.record("x", now, temp, true, true, opt); !until.Equal(now.Add(2 * time.Minute)) {
		t.Fatalf("421 after the backoff: until %v, want two minutes", until)
	}
}

// Attempts waiting for a connection slot (per_destination) when the
// destination goes into backoff do not dial it each in turn when their
// slot comes: a flush of a queue for a server answering 421 made every
// queued message connect once, all within a second.
func TestAttemptsWaitingForASlotSeeTheBackoff(t *testing.T) {
	h := newHarness(t)
	first, second := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	calls := 0
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(string, int) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		// The first connection answers once the two other attempts
		// wait for its slot; a second one, should an attempt dial
		// before the first's backoff is recorded, once it is.
		switch n {
		case 1:
			<-first
		case 2:
			<-second
		}
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 28}, Message: "rate limited"}
	}})
	releaseSecond := sync.OnceFunc(func() { close(second) })
	defer releaseSecond()
	h.opt.Config.Relay = s.addr
	h.opt.Config.Workers = 3
	h.opt.Config.PerDestination = 1
	h.opt.Routing.Backoff = 2 * time.Minute
	ids := []string{
		h.enqueue(msg("s@origin.test", "a@dest.test")),
		h.enqueue(msg("s@origin.test", "b@dest.test")),
		h.enqueue(msg("s@origin.test", "c@dest.test")),
	}
	var once sync.Once
	h.startWith(func(a *Agent) {
		a.pool.waitHook = func(_ string, waiting int) {
			if waiting == 2 {
				once.Do(func() { close(first) })
			}
		}
	})
	skipped := 0
	for range ids {
		var m *envelope.Message
		select {
		case m = <-h.q.modified:
		case <-time.After(waitLimit):
			t.Fatal("not every attempt was recorded")
		}
		r := m.Rcpts[0]
		switch {
		case strings.HasPrefix(r.LastReply, "421 "):
			// Dialled: the first, and perhaps one that took the slot
			// before the first's backoff was recorded, which answers
			// once that is.
			releaseSecond()
		case strings.HasPrefix(r.LastReply, "451 4.4.5 ") && r.Attempts == 0:
			skipped++
			if !strings.Contains(r.LastReply, "until 2026-03-01T12:02:00Z") {
				t.Errorf("%s: %q, want the first 421's two-minute backoff", r.Addr, r.LastReply)
			}
		default:
			t.Errorf("%s: %+v", r.Addr, r)
		}
	}
	if n := s.connections(); n > 2 || skipped == 0 {
		t.Fatalf("%d connections and %d attempts skipped: the attempts that waited for the slot dialled a destination in backoff", n, skipped)
	}
}
