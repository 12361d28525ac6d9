package delivery

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
)

// TestDeliverHookRescuesUnparsableRoute: a recipient whose stored route
// does not parse is asked at the deliver hook all the same, with its
// route as stored, so that a stage's route (a corrected rule) sends it
// on, and that route and the stage that set it are stored; one no stage
// reroutes stays deferred as before, and the log says why.
func TestDeliverHookRescuesUnparsableRoute(t *testing.T) {
	h := newHarness(t)
	relay := h.sinkAt("127.0.0.1", sinkOptions{})
	fixed := startSink(t, "127.0.0.1:0", sinkOptions{})
	h.opt.Config.Relay = relay.addr
	var logs lockedBuffer
	h.logTo(&logs)
	newRoute := "smtp:" + fixed.addr
	var mu sync.Mutex
	seen := map[string]string{}
	h.opt.Deliver = func(_ context.Context, _ *envelope.Message, rcpts []DeliverRcpt) []DeliverVerdict {
		out := make([]DeliverVerdict, len(rcpts))
		mu.Lock()
		defer mu.Unlock()
		for i, r := range rcpts {
			seen[r.Rcpt.Addr] = r.Route
			if r.Rcpt.Addr == "fixed@dest.test" {
				out[i].Rerouted, out[i].Route, out[i].RoutedBy = true, newRoute, "route"
				out[i].Trace = []pipeline.TraceEntry{{Stage: "route", Hook: "deliver", Action: "continue", Rcpt: r.Rcpt.Addr,
					Edits: []string{"set route of <fixed@dest.test> to " + newRoute + " at deliver (was " + r.Route + ")"}}}
			}
		}
		return out
	}
	h.start()
	m := msg("s@origin.test", "fixed@dest.test", "still@dest.test", "ok@dest.test")
	m.Rcpts[0].Route, m.Rcpts[0].RouteBy = "carrier-pigeon:coop", "route"
	m.Rcpts[1].Route = "carrier-pigeon:loft"
	id := h.enqueue(m)

	got := []sinkMsg{waitMsg(t, relay), waitMsg(t, fixed)}
	if r := strings.Join(got[0].rcpts, ","); r != "ok@dest.test" {
		t.Errorf("the relay got %s, want ok@ alone", r)
	}
	if r := strings.Join(got[1].rcpts, ","); r != "fixed@dest.test" {
		t.Errorf("the corrected route's server got %s, want fixed@", r)
	}
	rec := h.recorded(id)
	if r := rcpt(rec, "fixed@dest.test"); r.Status != envelope.RcptDelivered || r.Route != newRoute || r.RouteBy != "route" {
		t.Errorf("fixed@ stored %s by route %q of %q, want delivered by %q of route", r.Status, r.Route, r.RouteBy, newRoute)
	}
	if r := rcpt(rec, "still@dest.test"); r.Status != envelope.RcptPending || r.Route != "carrier-pigeon:loft" || !strings.HasPrefix(r.LastReply, "451 4.3.5") {
		t.Errorf("still@ stored %s by route %q (%s), want deferred on its route", r.Status, r.Route, r.LastReply)
	}
	mu.Lock()
	if seen["fixed@dest.test"] != "carrier-pigeon:coop" || seen["still@dest.test"] != "carrier-pigeon:loft" {
		t.Errorf("the hook saw routes %v, want the unparsable ones as stored", seen)
	}
	mu.Unlock()
	var warned []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "route does not parse") {
			warned = append(warned, l)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "rcpt=still@dest.test") {
		t.Errorf("route does not parse lines %q, want still@'s alone", warned)
	}
}
