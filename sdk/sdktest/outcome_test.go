package sdktest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// outcomes records what its outcome hook was told.
type outcomes struct {
	sdk.Base
	got  []sdk.Outcome
	txns []sdk.Txn
	fail bool
}

func (p *outcomes) Outcome(_ context.Context, t *sdk.Txn, o sdk.Outcome) error {
	p.got = append(p.got, o)
	p.txns = append(p.txns, *t)
	if p.fail {
		return errors.New("store down")
	}
	return nil
}

func TestHarnessOutcome(t *testing.T) {
	p := &outcomes{}
	h := sdktest.New(t, p, "")
	txn := &sdk.Txn{Session: sdk.Session{ID: "outcome-Q1", Notes: map[string]string{"client": "web"}},
		Envelope: sdk.Envelope{MailFrom: "a@example.org", QueueID: "Q1"}, Notes: map[string]string{"campaign": "spring"}}
	o := sdk.Outcome{Attempt: 2, MessageID: "<m1@example.org>", Subject: "Hi",
		Rcpts: []sdk.RecipientOutcome{{Addr: "b@example.net", Status: sdk.OutcomeFailed, Code: 550, Enhanced: "5.1.1",
			Text: "no such user", RemoteMTA: "mx.example.net", Attempts: 2}}}
	if err := h.Outcome(txn, o); err != nil {
		t.Fatal(err)
	}
	if len(p.got) != 1 || p.got[0].Rcpts[0].Status != sdk.OutcomeFailed || p.got[0].Rcpts[0].Enhanced != "5.1.1" ||
		p.got[0].MessageID != "<m1@example.org>" || p.got[0].Attempt != 2 {
		t.Fatalf("got %+v", p.got)
	}
	if tx := p.txns[0]; tx.Notes["campaign"] != "spring" || tx.Session.Notes["client"] != "web" || tx.Envelope.QueueID != "Q1" {
		t.Fatalf("txn %+v", tx)
	}
	p.fail = true
	if err := h.Outcome(txn, o); err == nil {
		t.Fatal("the plugin's error was not returned")
	}
}
