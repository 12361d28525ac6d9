package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// TestRateDelayBusyBacklogSpread: with rate_delay = 1s, 100 messages
// promised a start while the first delivery runs for a minute each come
// back at a start of their own, not all at once (nor each at every
// recheck): the returns stay about two a second while it runs, and once it
// ends the deliveries go one a second with a few returns each.
func TestRateDelayBusyBacklogSpread(t *testing.T) {
	r := newRates()
	const delay = time.Second
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, _, ok := r.take("d", "first", t0, delay); !ok {
		t.Fatal("the first delivery did not start")
	}
	at := map[string]time.Time{}
	for i := range 100 {
		id := fmt.Sprintf("m%03d", i)
		until, _, ok := r.take("d", id, t0, delay)
		if ok {
			t.Fatalf("%s started while the first ran", id)
		}
		at[id] = until
	}
	returns, busyReturns := 0, 0
	var starts []time.Time
	busy := true
	for len(at) > 0 && returns < 10000 {
		id, now := "", time.Time{}
		for k, v := range at { // the next to come back, by time then ID
			if id == "" || v.Before(now) || v.Equal(now) && k < id {
				id, now = k, v
			}
		}
		if busy && !now.Before(t0.Add(time.Minute)) {
			busy = false
			r.done("d")
		}
		returns++
		if busy {
			busyReturns++
		}
		until, _, ok := r.take("d", id, now, delay)
		if !ok {
			at[id] = until
			continue
		}
		delete(at, id)
		starts = append(starts, now)
		r.done("d") // each later delivery ends at once
	}
	if len(at) > 0 {
		t.Fatalf("%d messages still waiting after %d returns", len(at), returns)
	}
	if busyReturns > 130 {
		t.Errorf("%d returns in the minute the first delivery ran, want about 2 a second", busyReturns)
	}
	if returns > 300 {
		t.Errorf("%d returns for 100 deliveries, want a few each", returns)
	}
	for i := 1; i < len(starts); i++ {
		if starts[i].Sub(starts[i-1]) < delay {
			t.Fatalf("starts %v and %v closer than the delay", starts[i-1], starts[i])
		}
	}
}

// TestRateDelayOtherDestinationKeepsItsRetry: a message whose one.test
// recipient waits for the rate delay and whose two.test recipient was
// deferred comes back at the promised start for one.test only: two.test
// is not tried again before its retry (5m), and the retry stands.
func TestRateDelayOtherDestinationKeepsItsRetry(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
	)
	one := h.sinkAt("127.0.0.2", sinkOptions{})
	h.sinkAt("127.0.0.3", sinkOptions{rcpt: func(addr string, n int) error { return tempFail(n) }})
	h.opt.Config.RateDelay.Duration = time.Minute
	h.start()
	t0 := h.clock.Now()
	first := h.enqueue(msg("s@origin.test", "a@one.test"))
	waitMsg(t, one)
	h.recorded(first)

	id := h.enqueue(msg("s@origin.test", "b@one.test", "c@two.test"))
	rec := h.recorded(id)
	b, c := rcpt(rec, "b@one.test"), rcpt(rec, "c@two.test")
	if b.Status != envelope.RcptPending || b.Attempts != 0 || c.Attempts != 1 || rec.Attempts != 1 || !rec.NextAttempt.Equal(t0.Add(time.Minute)) || rec.LastError == "" {
		t.Fatalf("after the first attempt: %+v; want b waiting untried, c deferred once, next attempt at +1m, c's error kept", rec)
	}

	h.retryAfter(time.Minute)
	if got := waitMsg(t, one); got.rcpts[0] != "b@one.test" {
		t.Fatalf("one.test got %q", got.rcpts)
	}
	rec = h.recorded(id)
	b, c = rcpt(rec, "b@one.test"), rcpt(rec, "c@two.test")
	if b.Status != envelope.RcptDelivered || c.Attempts != 1 || !rec.NextAttempt.Equal(t0.Add(5*time.Minute)) || rec.LastError == "" {
		t.Fatalf("at +1m: %+v; want b delivered, c not tried again, next attempt at c's retry (+5m)", rec)
	}
}

// TestRateDelaySurvivesReload: a reload's agent keeps the destination's
// last start: a message right after it waits its turn rather than going
// at once.
func TestRateDelaySurvivesReload(t *testing.T) {
	h, one, _ := rateHarness(t, time.Minute)
	t0 := h.clock.Now()
	first := h.enqueue(msg("s@origin.test", "a@one.test"))
	waitMsg(t, one)
	h.recorded(first)

	old := h.agent
	next := old.Successor(h.opt)
	old.Retire()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- next.Run(ctx) }()
	defer func() { cancel(); <-done }()

	second := h.enqueue(msg("s@origin.test", "b@one.test"))
	next.Kick()
	rec := h.recorded(second)
	if rec.Done() || !rec.NextAttempt.Equal(t0.Add(time.Minute)) || len(one.messages()) != 1 {
		t.Fatalf("after the reload: %+v, %d at one.test; want it waiting until +1m", rec, len(one.messages()))
	}
}
