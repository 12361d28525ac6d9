package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// A deliver pass asks a stage about many recipients in one round trip.
// Each call is counted once and gets its share of the round trip, as a
// delay_reject flush's hooks do: the latency sum (sluice_stage_latency_
// seconds) is the time the stage took, and p50/p99 what a call cost, not
// the whole round trip once per recipient.
func TestDeliverLatencyIsSharedByTheCallsOfARoundTrip(t *testing.T) {
	st := newEachStage()
	p := New(slog.New(slog.DiscardHandler), sc("each", st))
	advance := fixedClock(p)
	// The stage takes 1ms per recipient, all in one round trip.
	st.answer = func(*sdk.Recipient) (sdk.Verdict, error) {
		advance(time.Millisecond)
		return sdk.Continue(), nil
	}
	var mu sync.Mutex
	var observed []time.Duration
	p.SetObserver(func(_ string, hook sdk.Hook, _ string, lat time.Duration, _ bool) {
		mu.Lock()
		defer mu.Unlock()
		if hook == sdk.HookDeliver {
			observed = append(observed, lat)
		}
	})
	const n = 10
	env := sdk.Envelope{QueueID: "ID1", MailFrom: "s@origin.test"}
	var calls []DeliverCall
	for i := 0; i < n; i++ {
		calls = append(calls, DeliverCall{Env: env, Rcpt: sdk.Recipient{Addr: fmt.Sprintf("r%d@dest.test", i)}})
	}
	out := p.Deliver(context.Background(), calls)
	if sizes := st.tripSizes(); len(sizes) != 1 || sizes[0] != n {
		t.Fatalf("round trips of %v calls, want one of %d", sizes, n)
	}
	mu.Lock()
	var sum time.Duration
	for _, d := range observed {
		sum += d
	}
	got := len(observed)
	mu.Unlock()
	if got != n || sum != n*time.Millisecond {
		t.Errorf("observer: %d calls taking %v in all, want %d taking %v", got, sum, n, n*time.Millisecond)
	}
	s := p.Status()[0]
	if s.Calls != n || s.P50 != "1ms" || s.P99 != "1ms" {
		t.Errorf("status: %d calls, p50 %s, p99 %s; want %d, 1ms, 1ms", s.Calls, s.P50, s.P99, n)
	}
	for i, o := range out {
		if len(o.Trace) != 1 || o.Trace[0].Latency != time.Millisecond {
			t.Errorf("call %d: trace %+v, want one entry of 1ms", i, o.Trace)
		}
	}
}
