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

// A stage in dry run at the bounce hook leaves the report as generated
// and is counted by the dry-run observer as at any other hook: the
// bounce hook's pipeline used to leave the observer out, so
// sluice_stage_dry_run_total never counted a report.
func TestDryRunBounceObserved(t *testing.T) {
	d := sc("dry", bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		v := sdk.Discard("noise")
		v.Edits = []sdk.Edit{sdk.AddHeader{Name: "X-Dry", Value: "1"}, sdk.SetRoute{Rcpt: "a@b", Route: "discard"}}
		return v, nil
	}))
	d.DryRun = true
	p := New(slog.New(slog.DiscardHandler), d, sc("tag", tagger()))
	var seen []string
	p.SetDryRunObserver(func(stage string, hook sdk.Hook, would string) { seen = append(seen, stage+" "+string(hook)+" "+would) })
	res := p.Bounce(context.Background(), "ID", "", []string{"a@b"}, []byte(report))
	if res.Drop || res.Routes != nil || string(res.Body) != "Subject: failed\r\nX-Bounce-Seen: yes\r\n\r\nreport\r\n" {
		t.Fatalf("result %+v", res)
	}
	if strings.Join(seen, ",") != "dry bounce discard" {
		t.Errorf("observer %q", seen)
	}
}

// dry_run_verdicts counts the stage's current spell in dry run: a reload
// that keeps the stage and takes it out of dry run shows none, and one
// that puts it back starts them from zero.
func TestDryRunVerdictsFollowReload(t *testing.T) {
	st := &goStage{hooks: map[sdk.Hook]bool{sdk.HookMail: true},
		onHook: func(sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) {
			return sdk.Reject(550, "5.7.1", "no"), nil
		}}
	gen := func(dry bool, old *Pipeline) *Pipeline {
		c := sc("s", st)
		c.DryRun = dry
		p := New(slog.New(slog.DiscardHandler), c)
		p.Inherit(old)
		return p
	}
	mail := func(p *Pipeline) {
		p.Open(context.Background(), sdk.Session{ID: "S"}).Mail(context.Background(), "a@b.test", nil)
	}
	on := gen(true, nil)
	mail(on)
	if got := on.Status()[0].DryRunVerdicts["reject"]; got != 1 {
		t.Fatalf("in dry run: %d", got)
	}
	off := gen(false, on)
	if st := off.Status()[0]; st.DryRunVerdicts != nil || st.Calls != 1 {
		t.Errorf("out of dry run: %+v", st)
	}
	again := gen(true, off)
	mail(again)
	if st := again.Status()[0]; st.DryRunVerdicts["reject"] != 1 || st.Calls != 2 {
		t.Errorf("back in dry run: %+v", st)
	}
}

// An auth stage in dry run authenticates and refuses no one: its accept
// and its reject act as continue, leaving AUTH to the next stage (or the
// user database), and the trace says what it would have done.
func TestDryRunAuth(t *testing.T) {
	dry := sc("dry", &declaringAuth{authStage{goStage{hooks: map[sdk.Hook]bool{sdk.HookAuth: true}}}})
	dry.DryRun = true
	p := New(slog.New(slog.DiscardHandler), dry)
	s := p.Open(context.Background(), sdk.Session{ID: "S"})
	for _, pw := range []string{"s3cret", "nope"} {
		if o := s.Auth(context.Background(), "PLAIN", "alice", []byte(pw)); o.Action != sdk.ActionContinue || o.Reply != nil {
			t.Errorf("password %q: %+v", pw, o)
		}
	}
	var got []string
	for _, e := range s.Trace() {
		got = append(got, e.Action)
	}
	if strings.Join(got, ",") != "dry run: would accept,dry run: would reject" {
		t.Errorf("trace %q", got)
	}
	if p.ChecksAuthFor("") || !p.DeclaresFor(sdk.HookAuth, "") {
		t.Error("a dry-run auth stage: asked at AUTH, yet checks no one's")
	}
}

// declaringAuth is authStage declaring its hooks.
type declaringAuth struct{ authStage }

func (d *declaringAuth) Declares(h sdk.Hook) bool { return d.hooks[h] }
