package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// answering is a stage that answers v at hook when the envelope's sender,
// the RCPT's recipient or the HELO name is who (any, when who is ""), and
// continue otherwise.
func answering(hook sdk.Hook, who string, v sdk.Verdict) *goStage {
	match := func(t *sdk.Txn, r *sdk.Recipient) bool {
		switch {
		case who == "":
			return true
		case hook == sdk.HookHelo:
			return t.Session.Helo == who
		case hook == sdk.HookRcpt:
			return r.Addr == who
		}
		return t.Envelope.MailFrom == who
	}
	return &goStage{
		hooks: map[sdk.Hook]bool{hook: true},
		onHook: func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			if match(t, r) {
				return v, nil
			}
			return sdk.Continue(), nil
		},
		onData: func(t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
			if match(t, nil) {
				return v, nil
			}
			return sdk.Continue(), nil
		},
	}
}

// A discard wins over a quarantine whichever comes first, as Postfix's
// cleanup never holds a message it discards (DISCARD over HOLD): a
// discard decided at connect, mail or rcpt, which waits for the end of
// the message, stays a discard after a quarantine at data, and a discard
// at data after a quarantine at rcpt discards. Of two quarantines, the
// first stage is named. A later quarantine at data used to replace an
// earlier discard, and the message was held rather than dropped.
func TestDiscardWinsOverQuarantine(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		aHook, bHook sdk.Hook
		a, b         sdk.Action
		want         disposition
	}{
		{sdk.HookMail, sdk.HookData, sdk.ActionDiscard, sdk.ActionQuarantine, disposition{sdk.ActionDiscard, "a", "a"}},
		{sdk.HookRcpt, sdk.HookData, sdk.ActionDiscard, sdk.ActionQuarantine, disposition{sdk.ActionDiscard, "a", "a"}},
		{sdk.HookConnect, sdk.HookData, sdk.ActionDiscard, sdk.ActionQuarantine, disposition{sdk.ActionDiscard, "a", "a"}},
		{sdk.HookRcpt, sdk.HookRcpt, sdk.ActionDiscard, sdk.ActionQuarantine, disposition{sdk.ActionDiscard, "a", "a"}},
		{sdk.HookRcpt, sdk.HookData, sdk.ActionQuarantine, sdk.ActionDiscard, disposition{sdk.ActionDiscard, "b", "b"}},
		{sdk.HookHelo, sdk.HookMail, sdk.ActionQuarantine, sdk.ActionDiscard, disposition{sdk.ActionDiscard, "b", "b"}},
		{sdk.HookData, sdk.HookData, sdk.ActionQuarantine, sdk.ActionDiscard, disposition{sdk.ActionDiscard, "b", "b"}},
		{sdk.HookMail, sdk.HookData, sdk.ActionQuarantine, sdk.ActionQuarantine, disposition{sdk.ActionQuarantine, "a", "a"}},
	} {
		for _, delay := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s at %s, %s at %s, delay_reject %v", tc.a, tc.aHook, tc.b, tc.bHook, delay), func(t *testing.T) {
				asked := false
				last := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { asked = true; return sdk.Continue(), nil })
				p := New(nil, sc("a", answering(tc.aHook, "", sdk.Verdict{Action: tc.a, Reason: "a"})),
					sc("b", answering(tc.bHook, "", sdk.Verdict{Action: tc.b, Reason: "b"})), sc("last", last))
				p.SetDelayReject(delay)
				s := p.Open(ctx, sdk.Session{})
				s.Connect(ctx)
				s.Helo(ctx, "client.example")
				s.Mail(ctx, "a@example.org", nil)
				if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "b@example.net"}); !o.OK() {
					t.Fatalf("rcpt: %+v", o)
				}
				o := s.Data(ctx, ParseMessage([]byte(raw)))
				if o.Action != tc.want.action || !o.OK() || s.disp != tc.want {
					t.Errorf("outcome %v (%v), disposition %+v; want %+v", o.Action, o.Reply, s.disp, tc.want)
				}
				// Only a discard at data ends the hook.
				if wantAsked := !(tc.bHook == sdk.HookData && tc.b == sdk.ActionDiscard); asked != wantAsked {
					t.Errorf("the last stage asked %v, want %v", asked, wantAsked)
				}
			})
		}
	}
}

// A discard or quarantine decided at a HELO or MAIL that a later stage
// refused does not stay: the client was told the command failed, and the
// session's next greeting or transaction is not silently discarded for
// it, as a decision at a refused RCPT is undone. A refused MAIL is never
// followed by RSET, so its discard used to discard the next message.
func TestRefusedCommandForgetsItsDisposition(t *testing.T) {
	ctx := context.Background()
	refuse := sdk.Reject(550, "5.7.1", "no")
	for _, hook := range []sdk.Hook{sdk.HookHelo, sdk.HookMail} {
		for _, a := range []sdk.Action{sdk.ActionDiscard, sdk.ActionQuarantine} {
			t.Run(fmt.Sprintf("%s at %s", a, hook), func(t *testing.T) {
				bad := "bad@example.org"
				if hook == sdk.HookHelo {
					bad = "bad.example"
				}
				s := New(nil, sc("a", answering(hook, bad, sdk.Verdict{Action: a})), sc("b", answering(hook, bad, refuse))).Open(ctx, sdk.Session{})
				if hook == sdk.HookHelo {
					if o := s.Helo(ctx, bad); o.OK() {
						t.Fatal("HELO not refused")
					}
					s.Helo(ctx, "good.example")
				} else if o := s.Mail(ctx, bad, nil); o.OK() {
					t.Fatal("MAIL not refused")
				}
				s.Mail(ctx, "good@example.org", nil)
				s.Rcpt(ctx, sdk.Recipient{Addr: "b@example.net"})
				if o := s.Data(ctx, ParseMessage([]byte(raw))); o.Action != sdk.ActionContinue || !o.OK() {
					t.Errorf("outcome %v (%v), want continue", o.Action, o.Reply)
				}
			})
		}
	}
}

// Undoing a refused recipient's decision keeps the decisions made
// meanwhile at other hooks: under delay_reject a later stage's held mail
// hook runs after an earlier stage's rcpt hook, in the same flush, and
// its quarantine is the transaction's even when that RCPT ends refused
// (by the same later stage, here).
func TestRefusedRcptKeepsHeldMailDisposition(t *testing.T) {
	ctx := context.Background()
	later := &goStage{
		hooks: map[sdk.Hook]bool{sdk.HookMail: true, sdk.HookRcpt: true},
		onHook: func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			switch {
			case h == sdk.HookMail:
				return sdk.Quarantine("held mail"), nil
			case r.Addr == "refused@example.net":
				return sdk.Reject(550, "5.1.1", "no such user"), nil
			}
			return sdk.Continue(), nil
		},
	}
	p := delayed(sc("first", answering(sdk.HookRcpt, "refused@example.net", sdk.Discard("rcpt"))), sc("later", later))
	s := p.Open(ctx, sdk.Session{})
	s.Mail(ctx, "a@example.org", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "refused@example.net"}); o.OK() {
		t.Fatal("RCPT not refused")
	}
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "ok@example.net"}); !o.OK() {
		t.Fatalf("rcpt: %+v", o)
	}
	if o := s.Data(ctx, ParseMessage([]byte(raw))); o.Action != sdk.ActionQuarantine || !o.OK() {
		t.Errorf("outcome %v (%v), want the held mail hook's quarantine", o.Action, o.Reply)
	}
}
