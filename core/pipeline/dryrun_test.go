package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// At the deliver hook a stage in dry run neither refuses the recipient
// nor reroutes it: the next stage sees the route as queued, the result
// lets the recipient go, and the observer hears what it would have done.
func TestDryRunDeliver(t *testing.T) {
	var lastSaw string
	dry := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
		onHook: func(sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) {
			v := sdk.Reject(550, "5.7.1", "no")
			v.Edits = []sdk.Edit{sdk.SetRoute{Route: "discard"}}
			return v, nil
		}}}
	last := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
		onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			lastSaw = r.Route
			return sdk.Continue(), nil
		}}}
	d := sc("dry", dry)
	d.DryRun = true
	p := New(slog.New(slog.DiscardHandler), d, sc("last", last))
	var seen []string
	p.SetDryRunObserver(func(stage string, hook sdk.Hook, would string) { seen = append(seen, stage+" "+string(hook)+" "+would) })
	out := p.Deliver(context.Background(), []DeliverCall{{Env: sdk.Envelope{QueueID: "Q"}, Rcpt: sdk.Recipient{Addr: "a@b.test", Route: "mx"}}})
	if out[0].Action != sdk.ActionContinue || out[0].Reply != nil || out[0].Rerouted || lastSaw != "mx" {
		t.Fatalf("result %+v, last stage saw route %q", out[0], lastSaw)
	}
	te := out[0].Trace[0]
	if te.Action != "dry run: would reject" || !te.DryRun || !strings.Contains(strings.Join(te.Edits, ""), "would set route") {
		t.Errorf("trace %+v", te)
	}
	if strings.Join(seen, ",") != "dry deliver reject" {
		t.Errorf("observer %q", seen)
	}
}

// With delay_reject, a stage in dry run refusing at a held hook refuses
// nothing when the hooks are flushed.
func TestDryRunDelayReject(t *testing.T) {
	dry := &goStage{hooks: map[sdk.Hook]bool{sdk.HookMail: true, sdk.HookRcpt: true},
		onHook: func(sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) {
			return sdk.Reject(550, "5.7.1", "no"), nil
		}}
	d := sc("dry", dry)
	d.DryRun = true
	p := New(slog.New(slog.DiscardHandler), d)
	p.SetDelayReject(true)
	s := p.Open(context.Background(), sdk.Session{ID: "S"})
	if o := s.Mail(context.Background(), "a@b.test", nil); !o.OK() {
		t.Fatalf("mail %+v", o)
	}
	if _, o := s.Rcpt(context.Background(), sdk.Recipient{Addr: "c@d.test"}); !o.OK() {
		t.Fatalf("rcpt %+v", o)
	}
	var got []string
	for _, e := range s.Trace() {
		got = append(got, string(e.Hook)+":"+e.Action)
	}
	if strings.Join(got, " ") != "mail:dry run: would reject rcpt:dry run: would reject" {
		t.Errorf("trace %q", got)
	}
}
