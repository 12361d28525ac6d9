package delivery

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// rateHarness is a harness whose MX for one.test is 127.0.0.2 and for
// two.test 127.0.0.3, with [delivery] rate_delay set to global.
func rateHarness(t *testing.T, global time.Duration) (h *harness, one, two *sink) {
	h = newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
	)
	one = h.sinkAt("127.0.0.2", sinkOptions{})
	two = h.sinkAt("127.0.0.3", sinkOptions{})
	h.opt.Config.RateDelay.Duration = global
	h.start()
	return h, one, two
}

// routed is msg with every recipient on route.
func routed(route, from string, rcpts ...string) *envelope.Message {
	m := msg(from, rcpts...)
	for i := range m.Rcpts {
		m.Rcpts[i].Route = route
	}
	return m
}

// TestRateDelaySpacesDeliveries: with rate_delay = 1m, three messages to
// one domain go one at once, one when the clock has passed 1m and one at
// 2m, the two waiting with no attempt counted; another domain's message
// goes at once.
func TestRateDelaySpacesDeliveries(t *testing.T) {
	h, one, two := rateHarness(t, time.Minute)
	t0 := h.clock.Now()
	ids := []string{
		h.enqueue(msg("s@origin.test", "a@one.test")),
		h.enqueue(msg("s@origin.test", "b@one.test")),
		h.enqueue(msg("s@origin.test", "c@one.test")),
	}
	other := h.enqueue(msg("s@origin.test", "d@two.test"))
	waitMsg(t, one)
	waitMsg(t, two)
	h.recorded(other)

	waiting := map[time.Time]string{} // by the start promised
	for _, id := range ids {
		rec := h.recorded(id)
		if rec.Done() || h.gone(id) {
			continue
		}
		if rec.Attempts != 0 || rec.Rcpts[0].Attempts != 0 || rec.LastError != "" {
			t.Errorf("waiting message %+v: want no attempt counted and no error", rec)
		}
		waiting[rec.NextAttempt] = id
	}
	second, third := waiting[t0.Add(time.Minute)], waiting[t0.Add(2*time.Minute)]
	if len(waiting) != 2 || second == "" || third == "" {
		t.Fatalf("waiting messages by next attempt %v, want one at +1m and one at +2m", waiting)
	}
	if n := len(one.messages()); n != 1 {
		t.Fatalf("%d messages at one.test before the clock moved, want 1", n)
	}

	h.retryAfter(59 * time.Second)
	h.retryAfter(time.Second)
	waitMsg(t, one)
	if !h.recorded(second).Done() {
		t.Errorf("second message not delivered at +1m")
	}
	if n := len(one.messages()); n != 2 || h.gone(third) {
		t.Fatalf("at +1m: %d messages at one.test, third gone %v; want 2 and the third waiting", n, h.gone(third))
	}

	h.retryAfter(time.Minute)
	waitMsg(t, one)
	if rec := h.recorded(third); !rec.Done() || rec.Rcpts[0].Attempts != 1 {
		t.Errorf("third message at +2m: %+v, want delivered at its first attempt", rec)
	}
}

// TestRouteRateDelayOverrides: a route's rate_delay= replaces [delivery]
// rate_delay for the mail it routes, both ways.
func TestRouteRateDelayOverrides(t *testing.T) {
	t.Run("route sets it", func(t *testing.T) {
		h, one, _ := rateHarness(t, 0)
		a := h.enqueue(routed("mx?rate_delay=1m", "s@origin.test", "a@one.test"))
		b := h.enqueue(routed("mx?rate_delay=1m", "s@origin.test", "b@one.test"))
		waitMsg(t, one)
		recA, recB := h.recorded(a), h.recorded(b)
		held := recB
		if !recA.Done() {
			held = recA
		}
		if recA.Done() == recB.Done() || !held.NextAttempt.Equal(h.clock.Now().Add(time.Minute)) {
			t.Fatalf("done %v and %v, waiting one's next attempt %v: want one delivered, the other at +1m", recA.Done(), recB.Done(), held.NextAttempt)
		}
	})
	t.Run("route turns it off", func(t *testing.T) {
		h, one, _ := rateHarness(t, time.Hour)
		a := h.enqueue(routed("mx?rate_delay=0s", "s@origin.test", "a@one.test"))
		b := h.enqueue(routed("mx?rate_delay=0s", "s@origin.test", "b@one.test"))
		got := []string{waitMsg(t, one).rcpts[0], waitMsg(t, one).rcpts[0]}
		slices.Sort(got)
		if !slices.Equal(got, []string{"a@one.test", "b@one.test"}) || !h.recorded(a).Done() || !h.recorded(b).Done() {
			t.Fatalf("one.test got %q, want both at once", got)
		}
	})
}

func TestParseRouteRateDelay(t *testing.T) {
	for in, want := range map[string]string{
		"mx?rate_delay=1s":                  "mx?rate_delay=1s",
		"smtp:[h.test]:25?rate_delay=500ms": "smtp:h.test:25?rate_delay=500ms",
		"mx?rate_delay=0s":                  "mx?rate_delay=0s",
	} {
		rt, err := ParseRoute(in)
		if err != nil || rt.String() != want {
			t.Errorf("ParseRoute(%q) = %q, %v; want %q", in, rt.String(), err, want)
		}
	}
	for _, bad := range []string{"mx?rate_delay=fast", "mx?rate_delay=-1s", "mx?rate_delay=1", "lmtp:tcp:h.test:24?rate_delay=1s"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("ParseRoute(%q) accepted", bad)
		}
	}
}
