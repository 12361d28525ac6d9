package delivery

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/reply"
)

// TestDeliverHookDecisionsRecorded: what the deliver hook decided for each
// recipient is told where an operator looks: a discarded recipient's
// stored reply says the hook discarded it (not a route), a failed or
// deferred one — sent nowhere, so without a "delivery attempt" line — has
// a log line naming the stage, and a recipient sent on although a stage
// returned edits, which deliver ignores, is in the trace's event.
func TestDeliverHookDecisionsRecorded(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	var logs lockedBuffer
	h.logTo(&logs)
	h.opt.Deliver = func(_ context.Context, _ *envelope.Message, rcpts []DeliverRcpt) []DeliverVerdict {
		out := make([]DeliverVerdict, len(rcpts))
		for i, r := range rcpts {
			te := pipeline.TraceEntry{Stage: "gate", Hook: "deliver", Action: "continue", Rcpt: r.Rcpt.Addr}
			switch r.Rcpt.Addr {
			case "drop@dest.test":
				te.Action, out[i].Drop = "discard", true
			case "no@dest.test":
				te.Action, out[i].Reply = "reject", &reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "not there"}
			case "later@dest.test":
				te.Action, out[i].Reply = "tempfail", &reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Text: "not now"}
			case "routed@dest.test":
				te.Edits = []string{"set_route routed@dest.test lmtp:127.0.0.1:24 (ignored at deliver)"}
			}
			out[i].Trace = []pipeline.TraceEntry{te}
		}
		return out
	}
	h.start()
	id := h.enqueue(msg("s@origin.test", "keep@dest.test", "drop@dest.test", "no@dest.test", "later@dest.test", "routed@dest.test"))
	m := h.recorded(id)
	if got := rcpt(m, "drop@dest.test").LastReply; !strings.Contains(got, "deliver hook") {
		t.Errorf("discarded recipient's reply %q, want it to name the deliver hook", got)
	}
	for _, want := range []string{
		`msg="delivery: failed by the deliver hook" id=` + id + ` rcpt=no@dest.test stage=gate reply="550 5.7.1 not there"`,
		`msg="delivery: deferred by the deliver hook" id=` + id + ` rcpt=later@dest.test stage=gate reply="451 4.7.1 not now"`,
		`msg="delivery: discarded by the deliver hook" id=` + id + ` rcpt=drop@dest.test stage=gate`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line %s in:\n%s", want, logs.String())
		}
	}
	raw, err := h.q.Trace(id)
	if err != nil {
		t.Fatal(err)
	}
	var tr pipeline.Trace
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	var hook *pipeline.DeliveryEvent
	for i := range tr.Deliveries {
		if tr.Deliveries[i].Destination == "deliver hook" {
			hook = &tr.Deliveries[i]
		}
	}
	if hook == nil || !slices.Contains(hook.Recipients, "routed@dest.test") || slices.Contains(hook.Recipients, "keep@dest.test") {
		t.Errorf("deliver hook event %+v: want routed@ (its ignored edit) and not keep@", hook)
	}
}

// TestDeliverHookQuarantineKeepsAdminHold: a message an administrator
// held while the deliver hook's stages were asked stays held when a stage
// answers quarantine: the administrator's decision holds, and releasing
// it asks the hook again.
func TestDeliverHookQuarantineKeepsAdminHold(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	h.opt.Deliver = func(_ context.Context, _ *envelope.Message, rcpts []DeliverRcpt) []DeliverVerdict {
		if err := h.q.Hold(id); err != nil {
			t.Error(err)
		}
		out := make([]DeliverVerdict, len(rcpts))
		for i := range out {
			out[i].Quarantine = true
		}
		return out
	}
	h.agent = New(h.q, h.opt)
	h.agent.attempt(context.Background(), id)
	m, err := h.q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != envelope.StateHeld {
		t.Errorf("message %s after the hook's quarantine, want held as the administrator left it", m.State)
	}
	if n := s.connections(); n != 0 {
		t.Errorf("%d connections to the sink", n)
	}
}
