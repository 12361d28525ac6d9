package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

// hookStage answers the envelope hooks in hooks with answer.
func hookStage(answer func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error), hooks ...sdk.Hook) *goStage {
	st := &goStage{hooks: map[sdk.Hook]bool{}, onHook: answer}
	for _, h := range hooks {
		st.hooks[h] = true
	}
	return st
}

// envString renders an envelope's sender and recipients (with route and
// parameters) for exact comparison.
func envString(e *sdk.Envelope) string {
	var b strings.Builder
	fmt.Fprintf(&b, "from=<%s> %v", e.MailFrom, e.MailParams)
	for _, r := range e.Rcpts {
		fmt.Fprintf(&b, " <%s>", r.Addr)
		if r.Route != "" {
			fmt.Fprintf(&b, "[%s]", r.Route)
		}
		if r.Params != nil {
			fmt.Fprintf(&b, "%v", r.Params)
		}
	}
	return b.String()
}

// traceEdits is the trace's edits of the entries for stage at hook.
func traceEdits(s *Session, stage string, hook sdk.Hook) []string {
	var out []string
	for _, te := range s.Trace() {
		if te.Stage == stage && te.Hook == hook {
			out = append(out, te.Edits...)
		}
	}
	return out
}

func expectStrings(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// A reject or tempfail is the client's answer that its command failed:
// the edits the verdict carries are not applied, at any hook (a recipient
// added or a route set on behalf of a refused RCPT would be delivered to
// all the same), and the trace says so.
func TestRefusalEditsAreNotApplied(t *testing.T) {
	ctx := context.Background()
	refusals := []sdk.Verdict{sdk.Reject(550, "5.1.1", "no"), sdk.Tempfail(451, "4.7.1", "later")}
	edits := []sdk.Edit{sdk.AddRecipient{Addr: "leak@example.net"}, sdk.SetRoute{Rcpt: "y@example.org", Route: "discard"}, sdk.SetSender{Addr: "other@example.org"}}
	wantTrace := []string{
		"add recipient <leak@example.net> (not applied: the stage refused)",
		"set route of <y@example.org> to discard (not applied: the stage refused)",
		"set sender <other@example.org> (not applied: the stage refused)",
	}
	for _, delay := range []bool{false, true} {
		for _, refusal := range refusals {
			name := fmt.Sprintf("%v delay=%v", refusal.Action, delay)
			v := refusal
			v.Edits = edits
			st := hookStage(func(h sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				if h == sdk.HookRcpt && r.Addr == "x@example.org" {
					return v, nil
				}
				return sdk.Continue(), nil
			}, sdk.HookMail, sdk.HookRcpt)
			p := New(nil, sc("policy", st))
			p.SetDelayReject(delay)
			s := p.Open(ctx, sdk.Session{})
			s.Mail(ctx, "from@example.org", nil)
			if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "y@example.org"}); !o.OK() {
				t.Fatalf("%s: rcpt y: %+v", name, o)
			}
			if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "x@example.org"}); o.Action != refusal.Action || o.Reply == nil {
				t.Fatalf("%s: rcpt x: %+v", name, o)
			}
			if got, want := envString(s.Envelope()), "from=<from@example.org> map[] <y@example.org>"; got != want {
				t.Fatalf("%s: envelope %s, want %s", name, got, want)
			}
			expectStrings(t, name+": trace", traceEdits(s, "policy", sdk.HookRcpt), wantTrace...)
		}
	}
	// At mail and data too.
	for _, hook := range []sdk.Hook{sdk.HookMail, sdk.HookData} {
		v := sdk.Reject(550, "5.7.1", "no")
		v.Edits = []sdk.Edit{sdk.SetSender{Addr: "other@example.org"}, sdk.AddHeader{Name: "X-Leak", Value: "1"}}
		st := hookStage(func(sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) { return v, nil }, hook)
		st.onData = func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return v, nil }
		s := New(nil, sc("policy", st)).Open(ctx, sdk.Session{})
		s.Mail(ctx, "from@example.org", nil)
		msg := ParseMessage([]byte(raw))
		if hook == sdk.HookData {
			if o := s.Data(ctx, msg); o.Reply == nil {
				t.Fatalf("data: %+v", o)
			}
		}
		if got := s.Envelope().MailFrom; got != "from@example.org" {
			t.Fatalf("%s: sender %q", hook, got)
		}
		if got := string(msg.Bytes()); got != raw {
			t.Fatalf("%s: message %q", hook, got)
		}
		expectStrings(t, string(hook)+": trace", traceEdits(s, "policy", hook),
			"set sender <other@example.org> (not applied: the stage refused)",
			"add header X-Leak: 1 (not applied: the stage refused)")
	}
}

// A discard's or quarantine's edits at data are applied: the message is
// kept (quarantined) with the headers a stage added to say why.
func TestQuarantineEditsAreApplied(t *testing.T) {
	ctx := context.Background()
	st := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		v := sdk.Quarantine("suspicious")
		v.Edits = []sdk.Edit{sdk.AddHeader{Name: "X-Quarantined", Value: "suspicious"}}
		return v, nil
	})
	s := New(nil, sc("q", st)).Open(ctx, sdk.Session{})
	s.Mail(ctx, "from@example.org", nil)
	msg := ParseMessage([]byte(raw))
	if o := s.Data(ctx, msg); o.Action != sdk.ActionQuarantine {
		t.Fatalf("data: %+v", o)
	}
	if got := msg.Get("X-Quarantined"); got != "suspicious" {
		t.Fatalf("X-Quarantined %q", got)
	}
	expectStrings(t, "trace", traceEdits(s, "q", sdk.HookData), "add header X-Quarantined: suspicious")
}

// A RCPT that ends refused leaves the transaction as it found it: the
// envelope edits (and a discard or quarantine) that stages made at its
// rcpt hook before a later stage refused it, or failed with on_error
// refusing, are undone exactly; edits made at other hooks stay.
func TestRefusedRcptUndoesItsRcptEdits(t *testing.T) {
	ctx := context.Background()
	refusers := map[string]func() StageConfig{
		"reject": func() StageConfig {
			return sc("b", hookStage(func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				if r.Addr == "x@example.org" {
					return sdk.Reject(550, "5.1.1", "no such user"), nil
				}
				return sdk.Continue(), nil
			}, sdk.HookRcpt))
		},
		"tempfail": func() StageConfig {
			return sc("b", hookStage(func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				if r.Addr == "x@example.org" {
					return sdk.Tempfail(450, "4.2.0", "busy"), nil
				}
				return sdk.Continue(), nil
			}, sdk.HookRcpt))
		},
		"on_error": func() StageConfig {
			c := sc("b", hookStage(func(_ sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				if r.Addr == "x@example.org" {
					return sdk.Verdict{}, errStageCrashed
				}
				return sdk.Continue(), nil
			}, sdk.HookRcpt))
			c.OnError = config.OnErrorReject
			return c
		},
	}
	for name, refuser := range refusers {
		for _, delay := range []bool{false, true} {
			name := fmt.Sprintf("%s delay=%v", name, delay)
			// a: at mail two copies of dup@, at rcpt y a route and its
			// parameters; at rcpt x everything an envelope edit can do,
			// and a quarantine.
			a := hookStage(func(h sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				switch {
				case h == sdk.HookMail:
					return sdk.Continue(sdk.AddRecipient{Addr: "dup@example.org"}, sdk.AddRecipient{Addr: "dup@example.org"}), nil
				case r.Addr == "y@example.org":
					return sdk.Continue(sdk.SetRoute{Route: "lmtp:unix:/run/y"}), nil
				}
				v := sdk.Quarantine("x is odd")
				v.Edits = []sdk.Edit{
					sdk.AddRecipient{Addr: "leak3@example.net"},
					sdk.RemoveRecipient{Addr: "DUP@example.org"},
					sdk.RemoveRecipient{Addr: "y@example.org"},
					sdk.AddRecipient{Addr: "y@example.org", Params: map[string]string{"NOTIFY": "NEVER"}},
					sdk.SetRoute{Rcpt: "y@example.org", Route: "discard"},
					sdk.SetSender{Addr: "rewritten@example.org", Params: map[string]string{"RET": "HDRS"}},
				}
				return v, nil
			}, sdk.HookMail, sdk.HookRcpt)
			p := New(nil, sc("a", a), refuser())
			p.SetDelayReject(delay)
			s := p.Open(ctx, sdk.Session{})
			s.Mail(ctx, "from@example.org", map[string]string{"RET": "FULL"})
			if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "y@example.org", Params: map[string]string{"NOTIFY": "FAILURE"}}); !o.OK() {
				t.Fatalf("%s: rcpt y: %+v", name, o)
			}
			before := envString(s.Envelope())
			if want := "from=<from@example.org> map[RET:FULL] <dup@example.org> <dup@example.org> <y@example.org>[lmtp:unix:/run/y]map[NOTIFY:FAILURE]"; before != want {
				t.Fatalf("%s: envelope before x:\n  %s\nwant\n  %s", name, before, want)
			}
			if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "x@example.org"}); o.Reply == nil {
				t.Fatalf("%s: rcpt x: %+v", name, o)
			}
			if got := envString(s.Envelope()); got != before {
				t.Fatalf("%s: envelope after refused x:\n  %s\nwant\n  %s", name, got, before)
			}
			// The trace still tells what a did.
			if got := len(traceEdits(s, "a", sdk.HookRcpt)); got != 7 {
				t.Fatalf("%s: a's rcpt edits in the trace: %d", name, got)
			}
			if o := s.Data(ctx, ParseMessage([]byte(raw))); o.Action != sdk.ActionContinue || !o.OK() {
				t.Fatalf("%s: data after the refused x was quarantined: %+v", name, o)
			}
		}
	}
}

// With delay_reject a later stage's held mail hook runs between the rcpt
// hooks of a refused RCPT: its edit is the transaction's and stays.
func TestDelayRejectRefusedRcptKeepsMailEdits(t *testing.T) {
	ctx := context.Background()
	a := hookStage(func(h sdk.Hook, _ *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
		if h == sdk.HookRcpt {
			return sdk.Continue(sdk.AddRecipient{Addr: "leak3@example.net"}, sdk.SetSender{Addr: "by-a@example.org"}), nil
		}
		return sdk.Continue(), nil
	}, sdk.HookRcpt)
	b := hookStage(func(h sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
		switch {
		case h == sdk.HookMail:
			return sdk.Continue(sdk.AddRecipient{Addr: "archive@example.org"}), nil
		case r.Addr == "x@example.org":
			return sdk.Reject(550, "5.1.1", "no such user"), nil
		}
		return sdk.Continue(), nil
	}, sdk.HookMail, sdk.HookRcpt)
	s := delayed(sc("a", a), sc("b", b)).Open(ctx, sdk.Session{})
	s.Mail(ctx, "from@example.org", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "x@example.org"}); o.Reply == nil || o.Reply.Code != 550 {
		t.Fatalf("rcpt x: %+v", o)
	}
	if got, want := envString(s.Envelope()), "from=<from@example.org> map[] <archive@example.org>"; got != want {
		t.Fatalf("envelope %s, want %s", got, want)
	}
}

// An envelope edit that would queue an address no SMTP command can carry
// (a line break to inject a command, a space outside quotes, no domain) or
// a route with a line break is refused, and traced so; the message goes
// on without it, with the valid edits.
func TestInvalidEnvelopeEditsAreRefused(t *testing.T) {
	ctx := context.Background()
	st := &goStage{hooks: map[sdk.Hook]bool{sdk.HookRcpt: true, sdk.HookData: true},
		onHook: func(sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) {
			return sdk.Continue(sdk.SetRoute{Route: "lmtp:unix:/run/x\r\nQUIT"}), nil
		},
		onData: func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
			return sdk.Continue(
				sdk.SetSender{Addr: "s@example.org> SIZE=1\r\nRCPT TO:<evil@example.net"},
				sdk.AddRecipient{Addr: "inj@example.net>\r\nRCPT TO:<x@y"},
				sdk.AddRecipient{Addr: "sp ace@example.net"},
				sdk.AddRecipient{Addr: "noatsign"},
				sdk.AddRecipient{Addr: "nul\x00@example.net"},
				sdk.AddRecipient{Addr: "a@exa mple.net"},
				sdk.AddRecipient{Addr: "<br@example.net>"},
				sdk.AddRecipient{Addr: `"bad"quote@example.net`},
				sdk.AddRecipient{Addr: `"open@example.net`},
				sdk.AddRecipient{Addr: "\"tab\t\"@example.net"},
				sdk.AddRecipient{Addr: "dot..dot@example.net"},
				sdk.AddRecipient{Addr: strings.Repeat("l", 65) + "@example.net"},
				sdk.SetRoute{Rcpt: "r@example.org", Route: "smtp:relay.example:25\n"},
				// A postmaster without its domain: the queue cannot
				// deliver to it.
				sdk.AddRecipient{Addr: "Postmaster"},
				// Valid: a quoted local part with a space, UTF-8, and the
				// null sender.
				sdk.AddRecipient{Addr: `"sp ace"@example.net`},
				sdk.AddRecipient{Addr: `"q\"<x>"@example.net`},
				sdk.AddRecipient{Addr: "jörg@exämple.net"},
				sdk.SetSender{Addr: ""},
			), nil
		}}
	s := New(nil, sc("env", st)).Open(ctx, sdk.Session{})
	s.Mail(ctx, "from@example.org", nil)
	r, o := s.Rcpt(ctx, sdk.Recipient{Addr: "r@example.org"})
	if !o.OK() || r.Route != "" {
		t.Fatalf("rcpt: route %q, %+v", r.Route, o)
	}
	if o := s.Data(ctx, ParseMessage([]byte(raw))); !o.OK() || o.Action != sdk.ActionContinue {
		t.Fatalf("data: %+v", o)
	}
	if got, want := envString(s.Envelope()), `from=<> map[] <r@example.org> <"sp ace"@example.net> <"q\"<x>"@example.net> <jörg@exämple.net>`; got != want {
		t.Fatalf("envelope\n  %s\nwant\n  %s", got, want)
	}
	expectStrings(t, "rcpt trace", traceEdits(s, "env", sdk.HookRcpt),
		"set route of <> to lmtp:unix:/run/x\r\nQUIT (refused: route has '\\r')")
	expectStrings(t, "data trace", traceEdits(s, "env", sdk.HookData),
		"set sender <s@example.org> SIZE=1\r\nRCPT TO:<evil@example.net> (refused: address must be local-part@domain)",
		"add recipient <inj@example.net>\r\nRCPT TO:<x@y> (refused: address must be local-part@domain)",
		`add recipient <sp ace@example.net> (refused: local part has ' ' outside quotes)`,
		"add recipient <noatsign> (refused: address must be local-part@domain)",
		`add recipient <nul`+"\x00"+`@example.net> (refused: local part has '\x00' outside quotes)`,
		"add recipient <a@exa mple.net> (refused: bad domain)",
		"add recipient <<br@example.net>> (refused: bad domain)",
		`add recipient <"bad"quote@example.net> (refused: local part has text after its quoted string)`,
		`add recipient <"open@example.net> (refused: local part has an unterminated quote)`,
		"add recipient <\"tab\t\"@example.net> (refused: local part has '\\t')",
		"add recipient <dot..dot@example.net> (refused: local part has an empty atom)",
		"add recipient <"+strings.Repeat("l", 65)+"@example.net> (refused: local part over 64 octets (RFC 5321 section 4.5.3.1.1))",
		"set route of <r@example.org> to smtp:relay.example:25\n (refused: route has '\\n')",
		"add recipient <Postmaster> (refused: address must be local-part@domain)",
		`add recipient <"sp ace"@example.net>`,
		`add recipient <"q\"<x>"@example.net>`,
		"add recipient <jörg@exämple.net>",
		"set sender <>",
	)
}

// A replaced body reaches the queue with CRLF line ends: a bare CR (which
// delivery would pass on, "<CR>.<CR>" ending data at some next hops) and
// a bare LF alike; the next stage sees it so. A CRLF body is kept as is.
func TestReplacedBodyLineEnds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ in, want string }{
		{"x\r.\rend", "x\r\n.\r\nend"},
		{"a\nb\r\nc\r", "a\r\nb\r\nc\r\n"},
		{"\r\r\n\n.\n", "\r\n\r\n\r\n.\r\n"},
		{"crlf\r\nonly\r\n", "crlf\r\nonly\r\n"},
		{"", ""},
	} {
		var seen string
		edit := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
			return sdk.Continue(sdk.ReplaceBody{Body: []byte(tc.in)}), nil
		})
		look := dataStage(func(_ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
			seen = string(m.Body)
			return sdk.Continue(), nil
		})
		s := New(nil, sc("edit", edit), sc("look", look)).Open(ctx, sdk.Session{})
		msg := ParseMessage([]byte("Subject: s\r\n\r\nold\r\n"))
		if o := s.Data(ctx, msg); !o.OK() {
			t.Fatalf("%q: %+v", tc.in, o)
		}
		if got := string(msg.Bytes()); got != "Subject: s\r\n\r\n"+tc.want {
			t.Errorf("%q: message %q, want body %q", tc.in, got, tc.want)
		}
		if seen != tc.want {
			t.Errorf("%q: next stage saw %q", tc.in, seen)
		}
	}
}
