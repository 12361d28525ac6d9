package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// notesString renders what a call saw of the notes.
func notesString(t *sdk.Txn) string {
	return fmt.Sprintf("session=%v txn=%v", t.Session.Notes, t.Notes)
}

// Notes a stage sets at connect and helo are the session's, seen by every
// later hook of the session; those set at mail and rcpt the
// transaction's, gone at RSET and at the next MAIL. Later stages see them
// at the same hook, and the stage itself at its later hooks — with
// delay_reject too, where the held hooks go to each stage in one batch.
// A refusal's notes are applied; an empty value deletes.
func TestNotesScopes(t *testing.T) {
	ctx := context.Background()
	for _, delay := range []bool{false, true} {
		t.Run(fmt.Sprintf("delay=%v", delay), func(t *testing.T) {
			var seenA, seenB []string
			a := hookStage(func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
				seenA = append(seenA, string(h)+" "+notesString(t))
				switch {
				case h == sdk.HookConnect:
					return sdk.Continue(sdk.SetNote{Key: "score", Value: "5"}), nil
				case h == sdk.HookHelo:
					return sdk.Continue(sdk.SetNote{Key: "helo.ok", Value: "yes"}), nil
				case h == sdk.HookRcpt && r.Addr == "x@example.org":
					v := sdk.Reject(550, "5.7.1", "no")
					v.Edits = []sdk.Edit{sdk.SetNote{Key: "refused", Value: "x"}, sdk.AddHeader{Name: "X-A", Value: "1"}}
					return v, nil
				case h == sdk.HookRcpt:
					return sdk.Continue(sdk.SetNote{Key: "rbl", Value: r.Addr}, sdk.SetNote{Key: "helo.ok", Value: "txn"}), nil
				}
				return sdk.Continue(), nil
			}, sdk.HookConnect, sdk.HookHelo, sdk.HookMail, sdk.HookRcpt)
			b := hookStage(func(h sdk.Hook, t *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
				seenB = append(seenB, string(h)+" "+notesString(t))
				return sdk.Continue(), nil
			}, sdk.HookConnect, sdk.HookHelo, sdk.HookMail, sdk.HookRcpt)
			b.hooks[sdk.HookData] = true
			b.onData = func(t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
				seenB = append(seenB, "data "+notesString(t))
				return sdk.Continue(sdk.SetNote{Key: "rbl", Value: ""}), nil
			}
			p := New(nil, sc("a", a), sc("b", b))
			p.SetDelayReject(delay)
			s := p.Open(ctx, sdk.Session{})
			s.Connect(ctx)
			s.Helo(ctx, "client.example")
			s.Mail(ctx, "from@example.org", nil)
			if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "x@example.org"}); o.OK() {
				t.Fatalf("rcpt x: %+v", o)
			}
			if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "y@example.org"}); !o.OK() {
				t.Fatalf("rcpt y: %+v", o)
			}
			if o := s.Data(ctx, ParseMessage([]byte(raw))); !o.OK() {
				t.Fatalf("data: %+v", o)
			}
			n := s.Notes()
			if got := fmt.Sprint(n.Session, n.Txn); got != "map[helo.ok:yes score:5] map[helo.ok:txn refused:x]" {
				t.Fatalf("notes at queueing: %s", got)
			}
			s.Reset(ctx)
			s.Mail(ctx, "from@example.org", nil)
			s.Rcpt(ctx, sdk.Recipient{Addr: "z@example.org"})
			session := "session=map[helo.ok:yes score:5]"
			wantA := []string{
				"connect session=map[] txn=map[]",
				"helo session=map[score:5] txn=map[]",
				"mail " + session + " txn=map[]",
				"rcpt " + session + " txn=map[]",
				"rcpt " + session + " txn=map[refused:x]",
				"mail " + session + " txn=map[]",
				"rcpt " + session + " txn=map[]",
			}
			wantB := []string{
				"connect session=map[score:5] txn=map[]",
				"helo session=map[helo.ok:yes score:5] txn=map[]",
				"mail " + session + " txn=map[]",
				"rcpt " + session + " txn=map[helo.ok:txn rbl:y@example.org refused:x]",
				"data " + session + " txn=map[helo.ok:txn rbl:y@example.org refused:x]",
				"mail " + session + " txn=map[]",
				"rcpt " + session + " txn=map[helo.ok:txn rbl:z@example.org]",
			}
			if delay {
				// Each stage is asked every held hook before the next
				// stage is: b's held hooks see every note a set at any
				// of them, as they see a's other decisions.
				txn1, txn2 := " txn=map[helo.ok:txn rbl:y@example.org refused:x]", " txn=map[helo.ok:txn rbl:z@example.org]"
				wantB = []string{"connect " + session + " txn=map[]", "helo " + session + " txn=map[]",
					"mail " + session + txn1, "rcpt " + session + txn1, "data " + session + txn1,
					"mail " + session + txn2, "rcpt " + session + txn2}
			}
			expectStrings(t, "a saw", seenA, wantA...)
			expectStrings(t, "b saw", seenB, wantB...)
			expectStrings(t, "trace", traceEdits(s, "a", sdk.HookConnect), "note score=5")
		})
	}
}

// A note the core cannot keep is refused, logged and traced as a bad
// header edit is, and the verdict's other edits go on: a key outside
// [A-Za-z0-9._-]{1,64}, a value over 1024 bytes or not UTF-8, a 33rd
// note of a scope. At deliver a note is ignored.
func TestNotesBounds(t *testing.T) {
	ctx := context.Background()
	var edits []sdk.Edit
	for i := range sdk.MaxNotes {
		edits = append(edits, sdk.SetNote{Key: fmt.Sprintf("k%d", i), Value: "v"})
	}
	edits = append(edits,
		sdk.SetNote{Key: "one-too-many", Value: "v"},
		sdk.SetNote{Key: "k0", Value: "replaced"}, // a key it has is no new note
		sdk.SetNote{Key: "", Value: "v"},
		sdk.SetNote{Key: strings.Repeat("k", 65), Value: "v"},
		sdk.SetNote{Key: "bad key", Value: "v"},
		sdk.SetNote{Key: "big", Value: strings.Repeat("v", 1025)},
		sdk.SetNote{Key: "latin1", Value: "caf\xe9"},
		sdk.AddHeader{Name: "X-After", Value: "1"})
	var seen *sdk.Txn
	st := hookStage(func(h sdk.Hook, t *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
		if h == sdk.HookMail {
			return sdk.Continue(edits...), nil
		}
		seen = t
		return sdk.Continue(), nil
	}, sdk.HookMail, sdk.HookRcpt)
	s := New(nil, sc("a", st)).Open(ctx, sdk.Session{})
	s.Mail(ctx, "from@example.org", nil)
	s.Rcpt(ctx, sdk.Recipient{Addr: "y@example.org"})
	if len(seen.Notes) != sdk.MaxNotes || seen.Notes["k0"] != "replaced" || seen.Notes["one-too-many"] != "" {
		t.Fatalf("rcpt saw %d notes %v", len(seen.Notes), seen.Notes)
	}
	got := traceEdits(s, "a", sdk.HookMail)[sdk.MaxNotes:]
	expectStrings(t, "trace", got,
		"note one-too-many=v (refused: 32 notes already, the most a scope holds)",
		"note k0=replaced",
		"note =v (refused: note key of 0 bytes, not 1 to 64)",
		"note "+strings.Repeat("k", 65)+"=v (refused: note key of 65 bytes, not 1 to 64)",
		`note bad key=v (refused: note key "bad key": only letters, digits, '.', '_' and '-')`,
		"note big=(1025 bytes) (refused: note value of 1025 bytes, over 1024)",
		"note latin1=caf\xe9 (refused: note value is not UTF-8)",
		"add header X-After: 1 (ignored at mail)")

	// At deliver: the queued notes are shown, and a note is ignored.
	var at *sdk.Txn
	d := hookStage(func(_ sdk.Hook, t *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
		at = t
		return sdk.Continue(sdk.SetNote{Key: "late", Value: "1"}), nil
	}, sdk.HookDeliver)
	res := New(nil, sc("d", &declaring{*d})).Deliver(ctx, []DeliverCall{{
		Env: sdk.Envelope{QueueID: "Q1", Rcpts: []sdk.Recipient{{Addr: "y@example.org"}}}, Rcpt: sdk.Recipient{Addr: "y@example.org"},
		Notes: Notes{Session: map[string]string{"score": "5"}, Txn: map[string]string{"rbl": "listed"}}}})
	if at == nil || notesString(at) != "session=map[score:5] txn=map[rbl:listed]" {
		t.Fatalf("deliver saw %+v", at)
	}
	expectStrings(t, "deliver trace", res[0].Trace[0].Edits, "note late=1 (ignored at deliver)")
}

// The bounce hook sees the notes of the message reported on; a note set
// there is ignored.
func TestNotesAtBounce(t *testing.T) {
	var at string
	st := bounceStage(func(t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
		at = notesString(t)
		return sdk.Continue(sdk.SetNote{Key: "late", Value: "1"}), nil
	})
	res := New(nil, sc("b", st)).BounceNoted(context.Background(), "R1", "", []string{"a@example.org"}, []byte(raw),
		Notes{Session: map[string]string{"score": "5"}, Txn: map[string]string{"rbl": "listed"}})
	if at != "session=map[score:5] txn=map[rbl:listed]" {
		t.Fatalf("bounce saw %s", at)
	}
	if !strings.Contains(string(res.Trace), "note late=1 (ignored at bounce)") {
		t.Fatalf("trace %s", res.Trace)
	}
}
