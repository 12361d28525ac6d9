package sdktest_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// scorer and decider are README's notes example: one stage scores, a
// later one decides by the score.
type scorer struct{ sdk.Base }

func (scorer) Connect(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	if t.Session.RelayClient {
		return sdk.Continue(sdk.SetNote{Key: "trusted", Value: "yes"}), nil
	}
	return sdk.Continue(), nil
}

func (scorer) Rcpt(_ context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	score, _ := strconv.Atoi(t.Notes["score"])
	if r.Addr == "trap@example.org" {
		score += 10
	}
	return sdk.Continue(sdk.SetNote{Key: "score", Value: strconv.Itoa(score)}), nil
}

type decider struct{ sdk.Base }

func (decider) HeadersOnly() bool { return true }

func (decider) Data(_ context.Context, t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
	if t.Session.Notes["trusted"] == "yes" {
		return sdk.Continue(), nil
	}
	if score, _ := strconv.Atoi(t.Notes["score"]); score >= 10 {
		return sdk.Reject(550, "5.7.1", "Spam trap"), nil
	}
	return sdk.Continue(sdk.AddHeader{Name: "X-Score", Value: t.Notes["score"]}), nil
}

// Notes travel between the steps of a script as between stages: the
// scorer's over the wire and back, carried by ApplyNotes, reach the
// decider's data hook; a second transaction starts without the first's.
func TestNotesBetweenStages(t *testing.T) {
	s, d := sdktest.New(t, scorer{}, ""), sdktest.New(t, decider{}, "")
	sess := sdktest.DefaultSession
	sess.RelayClient = false
	txn := &sdk.Txn{Session: sess}
	v := s.Connect(txn.Session)
	if err := sdktest.ApplyNotes(txn, sdk.HookConnect, v); err != nil || txn.Session.Notes != nil {
		t.Fatalf("connect: %v, session notes %v", err, txn.Session.Notes)
	}
	txn.Envelope.MailFrom = "alice@example.org"
	for _, rcpt := range []string{"bob@example.org", "trap@example.org"} {
		v := s.Rcpt(txn, rcpt)
		if err := sdktest.ApplyNotes(txn, sdk.HookRcpt, v); err != nil {
			t.Fatal(err)
		}
	}
	if got := sdktest.Notes(v); got != nil {
		t.Fatalf("connect's notes %v", got)
	}
	if txn.Notes["score"] != "10" {
		t.Fatalf("txn notes %v", txn.Notes)
	}
	if v := d.Data(txn, []byte("Subject: hi\r\n\r\nhi\r\n")); v.Action != sdk.ActionReject {
		t.Fatalf("data with score 10: %+v", v)
	}

	// A trusted client: a session note, seen in the next transaction too.
	sess.RelayClient = true
	txn = &sdk.Txn{Session: sess}
	v = s.Connect(txn.Session)
	if got := sdktest.Notes(v); got["trusted"] != "yes" {
		t.Fatalf("connect's notes %v", got)
	}
	if err := sdktest.ApplyNotes(txn, sdk.HookConnect, v); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		next := &sdk.Txn{Session: txn.Session} // a new transaction: no txn notes
		if err := sdktest.ApplyNotes(next, sdk.HookRcpt, s.Rcpt(next, "trap@example.org")); err != nil {
			t.Fatal(err)
		}
		if v := d.Data(next, []byte("Subject: hi\r\n\r\nhi\r\n")); v.Action != sdk.ActionContinue || len(v.Edits) != 0 {
			t.Fatalf("trusted client's data: %+v", v)
		}
	}

	// A note the core would refuse is reported.
	bad := sdk.Continue(sdk.SetNote{Key: "no spaces", Value: "x"}, sdk.SetNote{Key: "ok", Value: "1"})
	if err := sdktest.ApplyNotes(txn, sdk.HookMail, bad); err == nil || txn.Notes["ok"] != "1" {
		t.Fatalf("refused note: %v, notes %v", err, txn.Notes)
	}
}
