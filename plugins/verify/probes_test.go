package verify

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// At most max_probes probes are under way at once: an RCPT of a new
// address past it waits for one to end, where each session's RCPT
// opened a connection to the next hop of its own. An RCPT for an
// address whose probe is under way joins it and needs no room; one that
// gives up waiting starts no probe.
func TestMaxProbes(t *testing.T) {
	nh := newHop(t, false, nil, "a@example.org", "b@example.org", "c@example.org", "d@example.org")
	gate := make(chan struct{})
	arrived := make(chan string, 10)
	nh.set(func(h *hop) { h.gate, h.arrived = gate, arrived })
	queued, waiting := make(chan string, 10), make(chan string, 10)
	p := &Plugin{queued: func(a string) { queued <- a }, waiting: func(a string) { waiting <- a }}
	h := serve(t, p, hopConfig(nh, `, "max_probes": 2`), "")
	recv := func(what string, c <-chan string) string {
		t.Helper()
		select {
		case a := <-c:
			return a
		case <-time.After(10 * time.Second):
			close(gate)
			t.Fatalf("no %s", what)
		}
		return ""
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var verdicts []sdk.Verdict
	rcpt := func(addr string) {
		wg.Go(func() {
			v := h.Rcpt(sdktest.NewTxn("sender@origin.test"), addr)
			mu.Lock()
			verdicts = append(verdicts, v)
			mu.Unlock()
		})
	}
	rcpt("a@example.org")
	rcpt("b@example.org")
	recv("first probe", arrived)
	recv("second probe", arrived)
	rcpt("a@example.org") // a's probe is under way: it waits for it
	for range 3 {
		recv("RCPT waiting for its probe", waiting)
	}
	rcpt("c@example.org")
	select {
	case a := <-arrived:
		close(gate)
		t.Fatalf("a third probe at once (%s) with max_probes = 2", a)
	case a := <-queued:
		if a != "c@example.org" {
			t.Fatalf("queued %s, want c@example.org", a)
		}
	case <-time.After(10 * time.Second):
		close(gate)
		t.Fatal("c@example.org neither probed nor queued")
	}

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		// In process: its return is the plugin's, not the client's.
		_, err := p.Rcpt(ctx, sdktest.NewTxn("sender@origin.test"), sdk.Recipient{Addr: "d@example.org"})
		errc <- err
	}()
	recv("d@example.org queued", queued)
	cancel()
	if err := <-errc; err == nil {
		t.Error("an RCPT given up while queued answered")
	}

	close(gate)
	wg.Wait()
	for _, v := range verdicts {
		wantVerdict(t, "after the gate", v, sdk.ActionContinue, 0, "")
	}
	got := nh.asked()
	slices.Sort(got)
	if want := []string{"a@example.org", "b@example.org", "c@example.org"}; !slices.Equal(got, want) {
		t.Fatalf("the next hop was asked %q, want %q", got, want)
	}
}
