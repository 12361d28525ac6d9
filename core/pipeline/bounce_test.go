package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

const report = "Subject: failed\r\n\r\nreport\r\n"

// bounceStage declares the bounce hook and answers it with f.
func bounceStage(f func(t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error)) *declaring {
	return &declaring{goStage{hooks: map[sdk.Hook]bool{sdk.HookBounce: true}, onData: f}}
}

// tagger adds X-Bounce-Seen to every report.
func tagger() *declaring {
	return bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		return sdk.Continue(sdk.AddHeader{Name: "X-Bounce-Seen", Value: "yes"}), nil
	})
}

func TestBounceHookEditsAndSuppresses(t *testing.T) {
	st := bounceStage(func(_ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
		if m.Get("Subject") == "drop me" {
			return sdk.Discard("noise"), nil
		}
		return sdk.Continue(sdk.AddHeader{Name: "X-Bounce-Seen", Value: "yes"}), nil
	})
	p := New(nil, sc("b", st))
	res := p.Bounce(context.Background(), "ID1", "", []string{"a@b"}, []byte(report))
	if res.Drop || string(res.Body) != "Subject: failed\r\nX-Bounce-Seen: yes\r\n\r\nreport\r\n" {
		t.Fatalf("edit: %+v", res)
	}
	if res := p.Bounce(context.Background(), "ID2", "", []string{"a@b"}, []byte("Subject: drop me\r\n\r\nx\r\n")); !res.Drop {
		t.Fatal("discard did not suppress the report")
	}
}

// A report's envelope is Sluice's: a bounce stage's sender edit is not
// applied, nor a recipient added beside the report's own (only one that
// replaces it is: TestBounceHookReplacesRecipient), and its trace says
// so, while its header edits are. A route is: it says where a
// recipient's report goes (the route plugin sends a local sender's to
// its mailbox server); it used to be ignored too, and such a report went
// by MX, back to us.
func TestBounceHookEnvelopeEditsIgnoredAndTraced(t *testing.T) {
	st := bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		return sdk.Continue(
			sdk.AddHeader{Name: "X-Bounce-Seen", Value: "yes"},
			sdk.AddRecipient{Addr: "postmaster@example.org"},
			sdk.SetSender{Addr: "someone@example.org"},
			sdk.SetRoute{Rcpt: "A@b", Route: "smtp:[127.0.0.1]:2525"},
			sdk.SetRoute{Rcpt: "nobody@b", Route: "smtp:[127.0.0.1]:2526"},
		), nil
	})
	p := New(nil, sc("b", st))
	res := p.Bounce(context.Background(), "ID1", "", []string{"a@b"}, []byte(report))
	if res.Drop || string(res.Body) != "Subject: failed\r\nX-Bounce-Seen: yes\r\n\r\nreport\r\n" {
		t.Fatalf("header edit: %+v", res)
	}
	if len(res.Routes) != 1 || res.Routes["a@b"] != "smtp:[127.0.0.1]:2525" {
		t.Errorf("routes %v, want a@b's only", res.Routes)
	}
	if len(res.RoutesBy) != 1 || res.RoutesBy["a@b"] != "b" {
		t.Errorf("routes set by %v, want a@b's by stage b", res.RoutesBy)
	}
	var tr Trace
	if err := json.Unmarshal(res.Trace, &tr); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(tr.Entries[0].Edits, "|")
	for _, want := range []string{"add recipient <postmaster@example.org> (refused: a report's recipient may only be replaced, one for one: the edits would leave it 2 recipients, not 1)",
		"set sender <someone@example.org> (ignored at bounce)",
		"set route of <A@b> to smtp:[127.0.0.1]:2525|", "set route of <nobody@b> to smtp:[127.0.0.1]:2526 (ignored at bounce)"} {
		if !strings.Contains(got+"|", want) {
			t.Errorf("trace edits %q lack %q", got, want)
		}
	}
	if strings.Count(got, "(ignored at bounce)") != 2 {
		t.Errorf("trace edits %q: want the sender and unknown recipient's route edits ignored", got)
	}
	if res.Rcpts != nil {
		t.Errorf("recipients %q, want the report's own", res.Rcpts)
	}
}

// TestBounceHookFailureNeverLosesTheReport: only a stage's deliberate
// reject or discard drops a report. A stage that fails — whatever its
// on_error — or answers tempfail leaves the report queued as generated
// (without the edits of the stages before it), and says why; quarantine
// queues it quarantined, the later stages asked. Before, any reply (on_error tempfail or reject
// included) dropped the report for good.
func TestBounceHookFailureNeverLosesTheReport(t *testing.T) {
	fail := func(err error) *declaring {
		return bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return sdk.Verdict{}, err })
	}
	answer := func(v sdk.Verdict) *declaring {
		return bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return v, nil })
	}
	tagged := "Subject: failed\r\nX-Bounce-Seen: yes\r\n\r\nreport\r\n"
	twice := "Subject: failed\r\nX-Bounce-Seen: yes\r\nX-Bounce-Seen: yes\r\n\r\nreport\r\n" // the next stage is asked
	for _, tc := range []struct {
		name       string
		stage      *declaring
		onError    config.OnError
		body       string // "" = dropped
		quarantine bool
		unchanged  string // in Unchanged
		outcome    string // in the trace's outcome
	}{
		{"error, on_error tempfail", fail(errors.New("boom")), config.OnErrorTempfail, report, false, "stage s failed (on_error tempfail): boom", "queued as generated"},
		{"error, on_error reject", fail(errors.New("boom")), config.OnErrorReject, report, false, "stage s failed (on_error reject): boom", "queued as generated"},
		{"timeout", fail(context.DeadlineExceeded), config.OnErrorTempfail, report, false, "deadline exceeded", "queued as generated"},
		{"dead plugin", fail(ErrStageDown), config.OnErrorTempfail, report, false, "stage is down", "queued as generated"},
		{"error, on_error continue", fail(errors.New("boom")), config.OnErrorContinue, twice, false, "", "queued"},
		{"tempfail verdict", answer(sdk.Tempfail(451, "4.7.1", "later")), config.OnErrorTempfail, report, false, "answered tempfail (451 4.7.1 later)", "queued as generated"},
		{"reject verdict", answer(sdk.Reject(550, "5.7.1", "no")), config.OnErrorTempfail, "", false, "", "dropped: stage s rejected it (550 5.7.1 no)"},
		{"discard verdict", answer(sdk.Discard("noise")), config.OnErrorTempfail, "", false, "", "dropped: stage s discarded it"},
		{"quarantine verdict", answer(sdk.Quarantine("look")), config.OnErrorTempfail, twice, true, "", "quarantined by stage s"},
		{"accept verdict", answer(sdk.Accept()), config.OnErrorTempfail, tagged, false, "", "queued"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A stage before it adds a field: a report that goes as
			// generated comes without it.
			p := New(nil, sc("tag", tagger()), StageConfig{Name: "s", Stage: tc.stage, Timeout: time.Second, OnError: tc.onError},
				sc("after", tagger()))
			res := p.Bounce(context.Background(), "REPORTID", "", []string{"a@b"}, []byte(report))
			if tc.body == "" {
				if !res.Drop || res.Body != nil {
					t.Fatalf("want the report dropped, got %+v", res)
				}
			} else if res.Drop || string(res.Body) != tc.body {
				t.Fatalf("report %q (drop %v), want %q", res.Body, res.Drop, tc.body)
			}
			if res.Quarantine != tc.quarantine {
				t.Errorf("quarantine %v, want %v", res.Quarantine, tc.quarantine)
			}
			if (tc.unchanged == "") != (res.Unchanged == "") || !strings.Contains(res.Unchanged, tc.unchanged) {
				t.Errorf("unchanged %q, want %q", res.Unchanged, tc.unchanged)
			}
			var tr Trace
			if err := json.Unmarshal(res.Trace, &tr); err != nil {
				t.Fatalf("trace %q: %v", res.Trace, err)
			}
			if tr.ID != "REPORTID" || !strings.HasPrefix(tr.Outcome, tc.outcome) || len(tr.Entries) < 2 ||
				tr.Entries[0].Stage != "tag" || tr.Entries[1].Stage != "s" || tr.Entries[1].Hook != sdk.HookBounce {
				t.Errorf("trace %+v", tr)
			}
		})
	}
}

// TestBounceHookAsksOnlyDeclaringStages: a stage that did not declare the
// bounce hook is not opened for a report (a milter would be dialled, and
// one that is down applied its on_error); with none, there is no trace.
func TestBounceHookAsksOnlyDeclaringStages(t *testing.T) {
	down := &goStage{openErr: errors.New("milter down")} // not a Declarer
	p := New(nil, StageConfig{Name: "m", Stage: down, Timeout: time.Second, OnError: config.OnErrorTempfail})
	res := p.Bounce(context.Background(), "R1", "", []string{"a@b"}, []byte(report))
	if res.Drop || string(res.Body) != report || res.Unchanged != "" || res.Trace != nil {
		t.Fatalf("%+v", res)
	}
	p = New(nil, StageConfig{Name: "m", Stage: down, Timeout: time.Second, OnError: config.OnErrorTempfail}, sc("tag", tagger()))
	res = p.Bounce(context.Background(), "R2", "", []string{"a@b"}, []byte(report))
	if res.Drop || res.Unchanged != "" || !strings.Contains(string(res.Body), "X-Bounce-Seen") {
		t.Fatalf("%+v", res)
	}
}
