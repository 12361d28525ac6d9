package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// declaring is a goStage that says which hooks it declared, as a plugin
// process does; a stage that does not (a milter) is never opened for the
// deliver hook.
type declaring struct{ goStage }

func (d *declaring) Declares(h sdk.Hook) bool { return d.hooks[h] }
func (d *declaring) Open(ctx context.Context, s *sdk.Session) (Conn, error) {
	return d.goStage.Open(ctx, s)
}

func TestDeliverHook(t *testing.T) {
	seen := map[string][]string{} // by recipient
	watch := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
		onHook: func(h sdk.Hook, txn *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			seen[r.Addr] = append(seen[r.Addr], string(h)+" "+txn.Envelope.QueueID+" "+txn.Envelope.MailFrom+" "+r.Addr+" "+r.Route)
			return sdk.Continue(), nil
		}}}
	policy := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
		onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			switch {
			case strings.HasPrefix(r.Addr, "no@"):
				return sdk.Reject(550, "5.7.1", "not to them"), nil
			case strings.HasPrefix(r.Addr, "later@"):
				return sdk.Tempfail(451, "4.7.1", "not now"), nil
			case strings.HasPrefix(r.Addr, "drop@"):
				return sdk.Verdict{Action: sdk.ActionDiscard}, nil
			case strings.HasPrefix(r.Addr, "vip@"):
				return sdk.Verdict{Action: sdk.ActionAccept}, nil
			}
			return sdk.Continue(), nil
		}}}
	// A stage that declared no deliver hook, and a milter-like one that
	// declares nothing: neither is opened (both would fail to).
	other := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookData: true}, openErr: errors.New("opened for nothing")}}
	milterLike := &goStage{openErr: errors.New("dialled for nothing")}
	last := &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookDeliver: true},
		onHook: func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			seen[r.Addr] = append(seen[r.Addr], "last "+r.Addr)
			return sdk.Continue(), nil
		}}}
	p := New(slog.New(slog.DiscardHandler), sc("watch", watch), sc("other", other), sc("milter", milterLike), sc("policy", policy), sc("last", last))
	env := sdk.Envelope{MailFrom: "s@origin.test", QueueID: "ID1"}
	cases := []struct {
		rcpt   string
		action sdk.Action
		reply  string
	}{
		{"ok@dest.test", sdk.ActionContinue, ""},
		{"no@dest.test", sdk.ActionReject, "550 5.7.1 not to them"},
		{"later@dest.test", sdk.ActionTempfail, "451 4.7.1 not now"},
		{"drop@dest.test", sdk.ActionDiscard, ""},
		{"vip@dest.test", sdk.ActionAccept, ""},
	}
	// All in one call: each recipient gets its own outcome.
	var calls []DeliverCall
	for _, tc := range cases {
		calls = append(calls, DeliverCall{Env: env, Rcpt: sdk.Recipient{Addr: tc.rcpt, Route: "lmtp:127.0.0.1:24"}})
	}
	out := p.Deliver(context.Background(), calls)
	if len(out) != len(cases) {
		t.Fatalf("%d outcomes to %d calls", len(out), len(cases))
	}
	for i, tc := range cases {
		o := out[i].Outcome
		got := ""
		if o.Reply != nil {
			got = o.Reply.String()
		}
		if o.Action != tc.action || got != tc.reply {
			t.Errorf("%s: %s %q, want %s %q", tc.rcpt, o.Action, got, tc.action, tc.reply)
		}
		s := seen[tc.rcpt]
		if len(s) == 0 || s[0] != "deliver ID1 s@origin.test "+tc.rcpt+" lmtp:127.0.0.1:24" {
			t.Errorf("%s: the first stage saw %q", tc.rcpt, s)
		}
		// Only continue reaches the last stage.
		if reached := len(s) == 2; reached != (tc.action == sdk.ActionContinue) {
			t.Errorf("%s: last stage asked: %v (%q)", tc.rcpt, reached, s)
		}
		// The trace lists the stages asked, with their verdicts.
		var tr []string
		for _, te := range out[i].Trace {
			if te.Hook != sdk.HookDeliver || te.Rcpt != tc.rcpt {
				t.Errorf("%s: trace entry %+v", tc.rcpt, te)
			}
			tr = append(tr, te.Stage+":"+te.Action)
		}
		want := "watch:continue policy:" + tc.action.String()
		if tc.action == sdk.ActionContinue {
			want += " last:continue"
		}
		if strings.Join(tr, " ") != want {
			t.Errorf("%s: trace %q, want %q", tc.rcpt, tr, want)
		}
	}
}

// Without a stage that declared deliver, nothing is opened or asked.
func TestDeliverHookNobodyDeclared(t *testing.T) {
	p := New(slog.New(slog.DiscardHandler), sc("milter", &goStage{openErr: errors.New("dialled for nothing")}))
	out := p.Deliver(context.Background(), []DeliverCall{{Env: sdk.Envelope{QueueID: "X"}, Rcpt: sdk.Recipient{Addr: "a@b"}}})
	if len(out) != 1 || out[0].Action != sdk.ActionContinue || out[0].Reply != nil {
		t.Fatalf("%+v", out)
	}
}
