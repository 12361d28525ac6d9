package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

// A quarantine at data marks the message, as Postfix's HOLD does, and the
// later stages are asked as usual, seeing the quarantining stage's edits:
// their edits apply (a dkim stage signs what is released), a reject or
// tempfail refuses the message, a discard discards it, and an accept ends
// the hook with the message still quarantined. It used to end the hook,
// so that a signing stage after it never signed a quarantined message.
func TestQuarantineAtDataAsksLaterStages(t *testing.T) {
	ctx := context.Background()
	spam := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		v := sdk.Quarantine("score 9")
		v.Edits = []sdk.Edit{sdk.AddHeader{Name: "X-Spam", Value: "yes"}}
		return v, nil
	})
	// later answers with v, adding X-Later: what it saw of X-Spam.
	later := func(v sdk.Verdict) *goStage {
		return dataStage(func(_ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
			v.Edits = []sdk.Edit{sdk.AddHeader{Name: "X-Later", Value: "saw " + m.Get("X-Spam")}}
			return v, nil
		})
	}
	for _, tc := range []struct {
		name   string
		v      sdk.Verdict
		action sdk.Action
		reply  string
		xLater string // "" when the later stage's edit is not applied
		last   bool   // the stage after the later one is asked
	}{
		{"continue", sdk.Continue(), sdk.ActionQuarantine, "", "saw yes", true},
		{"accept", sdk.Accept(), sdk.ActionQuarantine, "", "saw yes", false},
		{"reject", sdk.Reject(550, "5.7.1", "no"), sdk.ActionReject, "550 5.7.1 no", "", false},
		{"tempfail", sdk.Tempfail(451, "4.7.1", "later"), sdk.ActionTempfail, "451 4.7.1 later", "", false},
		{"discard", sdk.Discard("noise"), sdk.ActionDiscard, "", "saw yes", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			last := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { asked = true; return sdk.Continue(), nil })
			s := New(nil, sc("spam", spam), sc("later", later(tc.v)), sc("last", last)).Open(ctx, sdk.Session{})
			s.Mail(ctx, "a@example.org", nil)
			msg := ParseMessage([]byte(raw))
			o := s.Data(ctx, msg)
			got := ""
			if o.Reply != nil {
				got = o.Reply.String()
			}
			if o.Action != tc.action || got != tc.reply {
				t.Fatalf("outcome %v %q, want %v %q", o.Action, got, tc.action, tc.reply)
			}
			if msg.Get("X-Spam") != "yes" || msg.Get("X-Later") != tc.xLater {
				t.Errorf("X-Spam %q X-Later %q, want yes and %q", msg.Get("X-Spam"), msg.Get("X-Later"), tc.xLater)
			}
			if asked != tc.last {
				t.Errorf("the last stage asked %v, want %v", asked, tc.last)
			}
			var trace []string
			for _, e := range s.Trace() {
				trace = append(trace, e.Stage+":"+e.Action)
			}
			want := "spam:quarantine later:" + tc.v.Action.String()
			if tc.last {
				want += " last:continue"
			}
			if got := strings.Join(trace, " "); got != want {
				t.Errorf("trace %q, want %q", got, want)
			}
		})
	}
}

// Of two quarantines the first is kept, the stage that set the message
// aside and its reason; the next transaction starts without either.
func TestQuarantineKeepsTheFirst(t *testing.T) {
	ctx := context.Background()
	q := func(reason string) *goStage {
		return dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return sdk.Quarantine(reason), nil })
	}
	s := New(nil, sc("q1", q("one")), sc("q2", q("two"))).Open(ctx, sdk.Session{})
	s.Mail(ctx, "a@example.org", nil)
	if o := s.Data(ctx, ParseMessage([]byte(raw))); o.Action != sdk.ActionQuarantine || !o.OK() {
		t.Fatalf("outcome %+v", o)
	}
	if want := (disposition{action: sdk.ActionQuarantine, stage: "q1", reason: "one"}); s.disp != want {
		t.Errorf("disposition %+v, want %+v", s.disp, want)
	}
	s.Reset(ctx)
	if s.disp != (disposition{}) {
		t.Errorf("disposition after RSET %+v", s.disp)
	}
}

// A quarantine at the bounce hook goes on to the later stages too: a
// later reject or discard drops the report, and a later tempfail or
// failure, which queues the report as generated, leaves it quarantined.
func TestBounceQuarantineAsksLaterStages(t *testing.T) {
	quar := bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		v := sdk.Quarantine("look")
		v.Edits = []sdk.Edit{sdk.AddHeader{Name: "X-Held", Value: "yes"}}
		return v, nil
	})
	answer := func(v sdk.Verdict, err error) *declaring {
		return bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return v, err })
	}
	for _, tc := range []struct {
		name       string
		after      *declaring
		drop       bool
		body       string
		quarantine bool
		outcome    string
	}{
		{"reject", answer(sdk.Reject(550, "5.7.1", "no"), nil), true, "", false, "dropped: stage after rejected it (550 5.7.1 no)"},
		{"discard", answer(sdk.Discard("noise"), nil), true, "", false, "dropped: stage after discarded it"},
		{"tempfail", answer(sdk.Tempfail(451, "4.7.1", "later"), nil), false, report, true,
			"queued as generated: stage after answered tempfail (451 4.7.1 later), which cannot defer a report; quarantined by stage q"},
		{"failure", answer(sdk.Verdict{}, errors.New("boom")), false, report, true,
			"queued as generated: stage after failed (on_error tempfail): boom; quarantined by stage q"},
		{"accept", answer(sdk.Accept(sdk.AddHeader{Name: "X-After", Value: "yes"}), nil), false,
			"Subject: failed\r\nX-Held: yes\r\nX-After: yes\r\n\r\nreport\r\n", true, "quarantined by stage q"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(nil, sc("q", quar), StageConfig{Name: "after", Stage: tc.after, OnError: config.OnErrorTempfail})
			res := p.Bounce(context.Background(), "R1", "", []string{"a@b"}, []byte(report))
			if res.Drop != tc.drop || string(res.Body) != tc.body || res.Quarantine != tc.quarantine {
				t.Errorf("drop %v body %q quarantine %v, want %v %q %v", res.Drop, res.Body, res.Quarantine, tc.drop, tc.body, tc.quarantine)
			}
			var tr Trace
			if err := json.Unmarshal(res.Trace, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.Outcome != tc.outcome || len(tr.Entries) != 2 {
				t.Errorf("trace outcome %q (%d entries), want %q", tr.Outcome, len(tr.Entries), tc.outcome)
			}
		})
	}
}
