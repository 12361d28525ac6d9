package pipeline

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// TestBounceHookReplacesRecipient: a bounce stage that removes the
// report's recipient and adds another in one verdict readdresses the
// report, as Postfix's cleanup rewrites a bounce's recipient (postsrsd's
// reverse table): the result names the new recipient, routed by the same
// verdict, without the DSN parameters the stage gave (a report's are
// none); a later stage sees it, and the trace shows the edits. Before,
// the recipient edits were ignored and the report went to the address it
// was made for.
func TestBounceHookReplacesRecipient(t *testing.T) {
	const srs = "SRS0=HHHH=TT=origin.test=carol@example.org"
	replace := bounceStage(func(t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
		return sdk.Continue(
			sdk.RemoveRecipient{Addr: strings.ToLower(srs)},
			sdk.AddRecipient{Addr: "carol@origin.test", Params: map[string]string{"NOTIFY": "SUCCESS"}},
			sdk.SetRoute{Rcpt: "carol@origin.test", Route: "smtp:[127.0.0.1]:2525"},
		), nil
	})
	var seen []string
	after := bounceStage(func(t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
		for _, r := range t.Envelope.Rcpts {
			seen = append(seen, r.Addr+" "+r.Route+" "+t.Envelope.MailFrom)
		}
		return sdk.Continue(), nil
	})
	p := New(nil, sc("route", replace), sc("after", after))
	res := p.Bounce(context.Background(), "R1", "", []string{srs}, []byte(report))
	if res.Drop || string(res.Body) != report {
		t.Fatalf("%+v", res)
	}
	if !slices.Equal(res.Rcpts, []string{"carol@origin.test"}) {
		t.Errorf("recipients %q, want carol@origin.test", res.Rcpts)
	}
	if len(res.Routes) != 1 || res.Routes["carol@origin.test"] != "smtp:[127.0.0.1]:2525" || res.RoutesBy["carol@origin.test"] != "route" {
		t.Errorf("routes %v by %v", res.Routes, res.RoutesBy)
	}
	if !slices.Equal(seen, []string{"carol@origin.test smtp:[127.0.0.1]:2525 "}) {
		t.Errorf("the later stage saw %q", seen)
	}
	var tr Trace
	if err := json.Unmarshal(res.Trace, &tr); err != nil {
		t.Fatal(err)
	}
	want := []string{"remove recipient <" + strings.ToLower(srs) + ">", "add recipient <carol@origin.test> (its parameters ignored at bounce)",
		"set route of <carol@origin.test> to smtp:[127.0.0.1]:2525"}
	if !slices.Equal(tr.Entries[0].Edits, want) {
		t.Errorf("trace edits %q, want %q", tr.Entries[0].Edits, want)
	}
}

// TestBounceHookRecipientEditsOneForOne: recipient edits that would not
// replace the report's recipients one for one are refused together (the
// report keeps its own, with the trace saying why): a removal alone
// (nobody left to report to), an addition alone, a replacement that is
// no mailbox, one added twice. A route with a control character is
// refused at bounce as at the other hooks.
func TestBounceHookRecipientEditsOneForOne(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []sdk.Edit
		trace string
	}{
		{"removed alone", []sdk.Edit{sdk.RemoveRecipient{Addr: "a@b"}},
			"remove recipient <a@b> (refused: a report's recipient may only be replaced, one for one: the edits would leave it 0 recipients, not 1)"},
		{"added alone", []sdk.Edit{sdk.AddRecipient{Addr: "c@d"}},
			"add recipient <c@d> (refused: a report's recipient may only be replaced, one for one: the edits would leave it 2 recipients, not 1)"},
		{"no mailbox", []sdk.Edit{sdk.RemoveRecipient{Addr: "a@b"}, sdk.AddRecipient{Addr: "c d@e"}},
			"remove recipient <a@b> (refused: a report's recipient may only be replaced, one for one: the edits would leave it 0 recipients, not 1)|add recipient <c d@e> (refused: "},
		{"twice", []sdk.Edit{sdk.RemoveRecipient{Addr: "a@b"}, sdk.AddRecipient{Addr: "c@d"}, sdk.AddRecipient{Addr: "C@d"}},
			"remove recipient <a@b> (refused: a report's recipient may only be replaced, one for one: <C@d> would get it twice)"},
		{"route with a line break", []sdk.Edit{sdk.SetRoute{Rcpt: "a@b", Route: "smtp:[x]:25\r\nX: y"}},
			`set route of <a@b> to smtp:[x]:25` + "\r\n" + `X: y (refused: route has '\r')`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return sdk.Continue(tc.edits...), nil })
			res := New(nil, sc("s", st)).Bounce(context.Background(), "R1", "", []string{"a@b"}, []byte(report))
			if res.Drop || res.Rcpts != nil || res.Routes != nil {
				t.Errorf("recipients %q, routes %v: want the report's own, unrouted", res.Rcpts, res.Routes)
			}
			var tr Trace
			if err := json.Unmarshal(res.Trace, &tr); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(tr.Entries[0].Edits, "|"); !strings.HasPrefix(got, tc.trace) {
				t.Errorf("trace edits %q, want %q", got, tc.trace)
			}
		})
	}
}

// TestBounceHookReplacesRecipientCase: a stage that replaces the report's
// recipient by the same address in other case (a plugin that lowercases
// addresses) and routes it: the report is queued for the address its
// route is keyed by. Before, the result kept the generated spelling while
// the route went under the new one, and delivery (which looks routes up
// by the queued address) sent the report by the default route.
func TestBounceHookReplacesRecipientCase(t *testing.T) {
	st := bounceStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		return sdk.Continue(
			sdk.RemoveRecipient{Addr: "Alice@Example.ORG"},
			sdk.AddRecipient{Addr: "alice@example.org"},
			sdk.SetRoute{Rcpt: "alice@example.org", Route: "lmtp:unix:/run/lmtp"},
		), nil
	})
	generated := []string{"Alice@Example.ORG"}
	res := New(nil, sc("s", st)).Bounce(context.Background(), "R1", "", generated, []byte(report))
	queued := res.Rcpts
	if queued == nil {
		queued = generated
	}
	for _, addr := range queued {
		if res.Routes[addr] != "lmtp:unix:/run/lmtp" || res.RoutesBy[addr] != "s" {
			t.Errorf("report queued for <%s>, routes %v by %v: its route lost", addr, res.Routes, res.RoutesBy)
		}
	}
}
