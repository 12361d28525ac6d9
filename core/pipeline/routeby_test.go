package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// TestRouteByAtReception: the session names the stage that set each
// recipient's route, at rcpt (the recipient decided) and at data (any
// recipient); a refused RCPT takes its stage's route and name with it,
// and a recipient removed and added afresh has neither.
func TestRouteByAtReception(t *testing.T) {
	router := &goStage{hooks: map[sdk.Hook]bool{sdk.HookRcpt: true},
		onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			return sdk.Continue(sdk.SetRoute{Route: "lmtp:tcp:127.0.0.1:24"}), nil
		}}
	refuser := &goStage{hooks: map[sdk.Hook]bool{sdk.HookRcpt: true},
		onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			if strings.HasPrefix(r.Addr, "no@") {
				return sdk.Reject(550, "5.1.1", "no"), nil
			}
			return sdk.Continue(), nil
		}}
	quarantine := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		return sdk.Continue(sdk.SetRoute{Rcpt: "B@dest.test", Route: "smtp:quarantine.test:25"},
			sdk.RemoveRecipient{Addr: "c@dest.test"}, sdk.AddRecipient{Addr: "c@dest.test"}), nil
	})
	p := New(slog.New(slog.DiscardHandler), sc("router", router), sc("refuser", refuser), sc("quarantine", quarantine))
	s := p.Open(context.Background(), sdk.Session{ID: "s1"})
	s.Mail(context.Background(), "s@origin.test", nil)
	for _, a := range []string{"a@dest.test", "b@dest.test", "c@dest.test", "no@dest.test"} {
		s.Rcpt(context.Background(), sdk.Recipient{Addr: a})
	}
	if got := s.RouteBy("no@dest.test"); got != "" {
		t.Errorf("a refused recipient's route is by %q, want undone", got)
	}
	if got := s.RouteBy("A@dest.test"); got != "router" {
		t.Errorf("a@'s route is by %q, want router", got)
	}
	if o := s.Data(context.Background(), ParseMessage([]byte(raw))); !o.OK() {
		t.Fatal(o)
	}
	for addr, want := range map[string]string{"a@dest.test": "router", "b@dest.test": "quarantine", "c@dest.test": ""} {
		if got := s.RouteBy(addr); got != want {
			t.Errorf("%s's route is by %q, want %q", addr, got, want)
		}
	}
	s.Mail(context.Background(), "s@origin.test", nil)
	if got := s.RouteBy("a@dest.test"); got != "" {
		t.Errorf("a new transaction: a@'s route by %q", got)
	}
}

// TestDeliverKeepsAnotherStagesRoute: at the deliver hook a stage's
// SetRoute is followed only when the recipient's route is its own or
// nobody's; a route another stage set (a quarantine relay chosen at
// reception) stays, and the trace says whose it is. Once a stage has set
// a route at deliver, it is that stage's for the stages after it.
func TestDeliverKeepsAnotherStagesRoute(t *testing.T) {
	setter := func(route string) *declaring {
		return &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
			onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				return sdk.Continue(sdk.SetRoute{Rcpt: r.Addr, Route: route}), nil
			}}}
	}
	p := New(slog.New(slog.DiscardHandler), sc("route", setter("smtp:new.test:25")), sc("late", setter("smtp:late.test:25")))
	env := sdk.Envelope{QueueID: "ID1"}
	call := func(addr, by string) DeliverCall {
		return DeliverCall{Env: env, Rcpt: sdk.Recipient{Addr: addr, Route: "smtp:old.test:25"}, RouteBy: by}
	}
	out := p.Deliver(context.Background(), []DeliverCall{call("other@dest.test", "quarantine"), call("own@dest.test", "route"), call("none@dest.test", "")})

	if out[0].Rerouted {
		t.Errorf("another stage's route was changed: %+v", out[0])
	}
	if e := out[0].Trace[0].Edits; len(e) != 1 || !strings.HasSuffix(e[0], "(ignored at deliver: route set by stage quarantine)") {
		t.Errorf("the trace's edits %q, want ignored", e)
	}
	for _, i := range []int{1, 2} {
		if !out[i].Rerouted || out[i].Route != "smtp:new.test:25" || out[i].RoutedBy != "route" {
			t.Errorf("call %d: %+v, want rerouted by route to smtp:new.test:25", i, out[i])
		}
		if e := out[i].Trace[1].Edits; len(e) != 1 || !strings.HasSuffix(e[0], "(ignored at deliver: route set by stage route)") {
			t.Errorf("call %d: the later stage's edits %q, want ignored", i, e)
		}
	}
}

// TestDeliverTellsStagesWhoseRoute: each stage asked at deliver learns
// whether the recipient's route is another stage's (Recipient.
// RouteSetByOther), which it may not change, so that it can leave the
// recipient alone: set at reception by another stage, it is for every
// stage but that one; a route a stage set at deliver is another's for the
// stages after it; nobody's route is no stage's.
func TestDeliverTellsStagesWhoseRoute(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	stage := func(name, route string) *declaring {
		return &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
			onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				mu.Lock()
				seen[name+" "+r.Addr] = r.RouteSetByOther
				mu.Unlock()
				if route == "" {
					return sdk.Continue(), nil
				}
				return sdk.Continue(sdk.SetRoute{Rcpt: r.Addr, Route: route}), nil
			}}}
	}
	p := New(slog.New(slog.DiscardHandler), sc("route", stage("route", "smtp:new.test:25")), sc("quarantine", stage("quarantine", "")))
	env := sdk.Envelope{QueueID: "ID1"}
	call := func(addr, by string) DeliverCall {
		return DeliverCall{Env: env, Rcpt: sdk.Recipient{Addr: addr, Route: "smtp:old.test:25"}, RouteBy: by}
	}
	p.Deliver(context.Background(), []DeliverCall{call("q@dest.test", "quarantine"), call("own@dest.test", "route"), call("none@dest.test", "")})
	want := map[string]bool{
		"route q@dest.test": true, "quarantine q@dest.test": false,
		"route own@dest.test": false, "quarantine own@dest.test": true,
		"route none@dest.test": false, "quarantine none@dest.test": true,
	}
	for k, w := range want {
		if got, ok := seen[k]; !ok || got != w {
			t.Errorf("%s: route_set_by_other %v (asked %v), want %v", k, got, ok, w)
		}
	}
}
