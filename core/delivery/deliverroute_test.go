package delivery

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/reply"
)

// TestDeliverHookReroutes: a route a stage sets at the deliver hook (a
// route rule changed since the message was queued) is the route that
// attempt sends the recipient by, together with the others moved to it
// in one transaction, and it is stored with the recipient's outcome. The
// hook sees each recipient's own route ("mx" for the default, though the
// relay takes it), and a route that does not parse defers the recipient
// and keeps its old route.
func TestDeliverHookReroutes(t *testing.T) {
	h := newHarness(t)
	relay := h.sinkAt("127.0.0.1", sinkOptions{})
	moved := startSink(t, "127.0.0.1:0", sinkOptions{})
	h.opt.Config.Relay = relay.addr
	newRoute := "smtp:" + moved.addr
	var mu sync.Mutex
	seen := map[string]string{}
	h.opt.Deliver = func(_ context.Context, _ *envelope.Message, rcpts []DeliverRcpt) []DeliverVerdict {
		out := make([]DeliverVerdict, len(rcpts))
		mu.Lock()
		defer mu.Unlock()
		for i, r := range rcpts {
			seen[r.Rcpt.Addr] = r.Route
			te := pipeline.TraceEntry{Stage: "route", Hook: "deliver", Action: "continue", Rcpt: r.Rcpt.Addr}
			switch r.Rcpt.Addr {
			case "old@dest.test", "relayed@dest.test":
				out[i].Rerouted, out[i].Route, out[i].RoutedBy = true, "smtp:"+moved.addr+"?tls=opportunistic", "route"
				te.Edits = []string{"set route of <" + r.Rcpt.Addr + "> to " + newRoute + " at deliver (was " + r.Route + ")"}
			case "bad@dest.test":
				out[i].Rerouted, out[i].Route, out[i].RoutedBy = true, "carrier-pigeon:coop", "route"
			case "later@dest.test":
				te.Action, out[i].Reply = "tempfail", &reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Text: "not now"}
			}
			out[i].Trace = []pipeline.TraceEntry{te}
		}
		return out
	}
	h.start()
	m := msg("s@origin.test", "old@dest.test", "relayed@dest.test", "keep@dest.test", "bad@dest.test", "later@dest.test")
	m.Rcpts[0].Route = "lmtp:tcp:127.0.0.1:1" // a mailbox server since moved
	m.Rcpts[3].Route = "lmtp:tcp:127.0.0.1:1"
	id := h.enqueue(m)

	got := []sinkMsg{waitMsg(t, relay), waitMsg(t, moved)}
	if r := strings.Join(got[0].rcpts, ","); r != "keep@dest.test" {
		t.Errorf("the relay got %s, want keep@ alone", r)
	}
	if r := strings.Join(got[1].rcpts, ","); r != "old@dest.test,relayed@dest.test" {
		t.Errorf("the new route's server got %s, want old@ and relayed@ in one transaction", r)
	}
	rec := h.recorded(id)
	for _, a := range []string{"old@dest.test", "relayed@dest.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered || r.Route != newRoute {
			t.Errorf("%s stored %s by route %q, want delivered by %q", a, r.Status, r.Route, newRoute)
		}
	}
	if r := rcpt(rec, "keep@dest.test"); r.Status != envelope.RcptDelivered || r.Route != "" {
		t.Errorf("keep@ stored %s by route %q", r.Status, r.Route)
	}
	if r := rcpt(rec, "bad@dest.test"); r.Status != envelope.RcptPending || r.Route != "lmtp:tcp:127.0.0.1:1" || !strings.Contains(r.LastReply, "4.3.5") {
		t.Errorf("bad@ stored %s by route %q (%s), want deferred with its old route", r.Status, r.Route, r.LastReply)
	}
	if r := rcpt(rec, "later@dest.test"); r.Status != envelope.RcptPending || r.Route != "" {
		t.Errorf("later@ stored %s by route %q", r.Status, r.Route)
	}
	mu.Lock()
	if seen["keep@dest.test"] != "mx" || seen["old@dest.test"] != "lmtp:tcp:127.0.0.1:1" {
		t.Errorf("the hook saw routes %v, want the recipients' own (mx for the default)", seen)
	}
	mu.Unlock()

	raw, err := h.q.Trace(id)
	if err != nil {
		t.Fatal(err)
	}
	var tr pipeline.Trace
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(tr.Deliveries, func(e pipeline.DeliveryEvent) bool { return e.Destination == "deliver hook" })
	if i < 0 || !slices.Contains(tr.Deliveries[i].Recipients, "old@dest.test") || !strings.Contains(tr.Deliveries[i].Result, "mixed") {
		t.Fatalf("deliver hook event %+v", tr.Deliveries)
	}
	if e := tr.Deliveries[i].Stages[0].Edits; len(e) != 1 || !strings.Contains(e[0], "(was lmtp:tcp:127.0.0.1:1)") {
		t.Errorf("old@'s trace edits %q, want from what to what", e)
	}
}
