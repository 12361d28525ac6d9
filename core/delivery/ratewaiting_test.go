package delivery

import (
	"context"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/metrics"
)

// rateWaiting is sluice_delivery_rate_delay_waiting as m's /metrics shows it.
func rateWaiting(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	got := regexp.MustCompile(`(?m)^sluice_delivery_rate_delay_waiting (\S+)$`).FindStringSubmatch(rec.Body.String())
	if got == nil {
		return "missing"
	}
	return got[1]
}

// TestRateDelayWaitingGauge: sluice_delivery_rate_delay_waiting counts the
// messages a rate delay promised a later start: 1 while the second of two
// messages to one destination waits, 0 once it is delivered; 0 again once
// a waiting message is deleted (the admin API's Withdrawn) or bounced; and
// a reload's agent, which takes the table over, shows the count in its
// own metrics at once.
func TestRateDelayWaitingGauge(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2")
	one := h.sinkAt("127.0.0.2", sinkOptions{})
	h.opt.Config.RateDelay.Duration = time.Minute
	m := metrics.New(metrics.Providers{})
	h.opt.Metrics = m
	h.start()
	want := func(m *metrics.Metrics, v, when string) {
		t.Helper()
		if got := rateWaiting(t, m); got != v {
			t.Fatalf("%s: sluice_delivery_rate_delay_waiting %s, want %s", when, got, v)
		}
	}

	a := h.enqueue(msg("s@origin.test", "a@one.test"))
	b := h.enqueue(msg("s@origin.test", "b@one.test"))
	waitMsg(t, one)
	recA, recB := h.recorded(a), h.recorded(b)
	if recA.Done() == recB.Done() {
		t.Fatal("want one message delivered and the other waiting")
	}
	waiting := a
	if recA.Done() {
		waiting = b
	}
	want(m, "1", "the second message waiting")
	h.retryAfter(time.Minute)
	waitMsg(t, one)
	if !h.recorded(waiting).Done() {
		t.Fatal("the waiting message not delivered at its start")
	}
	want(m, "0", "both delivered")

	// Deleted while it waits: the admin API tells the agent.
	c := h.enqueue(msg("s@origin.test", "c@one.test"))
	if rec := h.recorded(c); rec.Done() {
		t.Fatal("third message delivered at once, want it waiting")
	}
	want(m, "1", "the third message waiting")
	h.administer("delete", c)
	h.agent.Withdrawn(c)
	want(m, "0", "the waiting message deleted")

	// Bounced while it waits.
	e := h.enqueue(msg("s@origin.test", "e@one.test"))
	if rec := h.recorded(e); rec.Done() {
		t.Fatal("fourth message delivered at once, want it waiting")
	}
	want(m, "1", "the fourth message waiting")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := h.agent.Bounce(ctx, e); err != nil {
		t.Fatal(err)
	}
	want(m, "0", "the waiting message bounced")

	// A reload's agent shares the table and shows its count.
	f := h.enqueue(msg("s@origin.test", "f@one.test"))
	if rec := h.recorded(f); rec.Done() {
		t.Fatal("fifth message delivered at once, want it waiting")
	}
	opt := h.opt
	m2 := metrics.New(metrics.Providers{})
	opt.Metrics = m2
	next := h.agent.Successor(opt)
	want(m2, "1", "the reload's agent, the fifth message waiting")
	h.agent.Retire()
	h.agent = next
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- next.Run(rctx) }()
	defer func() { rcancel(); <-done }()
	h.retryAfter(3 * time.Minute) // its start: the third's and fourth's were +2m and +3m
	waitMsg(t, one)
	if !h.recorded(f).Done() {
		t.Fatal("the fifth message not delivered at its start")
	}
	want(m2, "0", "the reload's agent delivered it")
}
