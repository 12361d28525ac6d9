package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// A SetRoute for the call's recipient at deliver changes the route it goes
// by (a route rule changed since the message was queued, as Postfix's
// transport_maps apply at the next try): the stages after see the new
// route, the result carries it, and the trace says from what to what.
// Every other edit stays ignored, and so does a route for another
// recipient (the envelope is shared by the message's calls).
func TestDeliverSetRoute(t *testing.T) {
	var lastSaw []string
	router := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
		onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			switch {
			case strings.HasPrefix(r.Addr, "moved@"):
				return sdk.Continue(sdk.SetRoute{Rcpt: strings.ToUpper(r.Addr), Route: "lmtp:tcp:new.test:24"},
					sdk.AddHeader{Name: "X-A", Value: "1"}, sdk.SetRoute{Rcpt: "other@dest.test", Route: "discard"}), nil
			case strings.HasPrefix(r.Addr, "bad@"):
				return sdk.Continue(sdk.SetRoute{Route: "lmtp:tcp:new.test:24\r\nX"}), nil
			case strings.HasPrefix(r.Addr, "refused@"):
				v := sdk.Reject(550, "5.7.1", "no")
				v.Edits = []sdk.Edit{sdk.SetRoute{Route: "discard"}}
				return v, nil
			}
			return sdk.Continue(), nil
		}}}
	last := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
		onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			lastSaw = append(lastSaw, r.Addr+" "+r.Route)
			return sdk.Continue(), nil
		}}}
	p := New(slog.New(slog.DiscardHandler), sc("router", router), sc("last", last))
	env := sdk.Envelope{QueueID: "ID1", Rcpts: []sdk.Recipient{{Addr: "moved@dest.test", Route: "lmtp:tcp:old.test:24"}}}
	var calls []DeliverCall
	for _, a := range []string{"moved@dest.test", "bad@dest.test", "refused@dest.test", "same@dest.test"} {
		calls = append(calls, DeliverCall{Env: env, Rcpt: sdk.Recipient{Addr: a, Route: "lmtp:tcp:old.test:24"}})
	}
	out := p.Deliver(context.Background(), calls)

	if !out[0].Rerouted || out[0].Route != "lmtp:tcp:new.test:24" || out[0].Action != sdk.ActionContinue {
		t.Errorf("moved@: %+v, want rerouted to lmtp:tcp:new.test:24", out[0])
	}
	edits := strings.Join(out[0].Trace[0].Edits, "|")
	for _, want := range []string{"set route of <moved@dest.test> to lmtp:tcp:new.test:24 at deliver (was lmtp:tcp:old.test:24)",
		"add header X-A: 1 (ignored at deliver)", "set route of <other@dest.test> to discard (ignored at deliver)"} {
		if !strings.Contains(edits, want) {
			t.Errorf("moved@'s trace edits %q lack %q", edits, want)
		}
	}
	if got := strings.Join(lastSaw, ","); !strings.Contains(got, "moved@dest.test lmtp:tcp:new.test:24") {
		t.Errorf("the last stage saw %q, want moved@ with its new route", got)
	}
	if env.Rcpts[0].Route != "lmtp:tcp:old.test:24" {
		t.Errorf("the shared envelope changed: %+v", env.Rcpts)
	}
	for _, i := range []int{1, 2, 3} {
		if out[i].Rerouted {
			t.Errorf("%s: rerouted %+v", calls[i].Rcpt.Addr, out[i])
		}
	}
	if e := strings.Join(out[1].Trace[0].Edits, "|"); !strings.Contains(e, "(refused: ") {
		t.Errorf("bad@'s route with a line break: %q, want refused", e)
	}
	if e := strings.Join(out[2].Trace[0].Edits, "|"); !strings.Contains(e, "(not applied: the stage refused)") {
		t.Errorf("refused@'s route: %q, want not applied", e)
	}
}
