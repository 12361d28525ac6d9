package sdk_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// testOutcome has every field of an Outcome set.
func testOutcome() sdk.Outcome {
	return sdk.Outcome{Attempt: 3, QueueAge: 90 * time.Second, MessageID: "<m1@example.org>", Subject: "Spring sale",
		Admin: true, Rcpts: []sdk.RecipientOutcome{
			{Addr: "b@example.net", ORcpt: "list@example.net", Status: sdk.OutcomeFailed, Expired: true, Code: 550,
				Enhanced: "5.1.1", Text: "no such user", RemoteMTA: "mx.example.net", Route: "smtp:[relay]:25", Attempts: 3,
				Class: "invalid_recipient"},
			{Addr: "c@example.net", Status: sdk.OutcomeDelivered, Code: 250, Enhanced: "2.0.0", Text: "ok", Attempts: 1},
		}}
}

// The outcome hook reaches OutcomeHook with the transaction and the
// outcome whole, and its error is the call's.
func TestOutcomeRoundTrip(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	txn := fullTxn()
	want := testOutcome()
	if err := h.Client().Outcome(context.Background(), txn, want); err != nil {
		t.Fatal(err)
	}
	got := p.toldOutcomes()
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("plugin saw %+v, want %+v", got, want)
	}
	if c := p.lastCall(); c.Hook != sdk.HookOutcome || !reflect.DeepEqual(c.Txn.Notes, txn.Notes) ||
		c.Txn.Envelope.QueueID != txn.Envelope.QueueID || !reflect.DeepEqual(c.Txn.Session, txn.Session) {
		t.Fatalf("plugin saw %+v, want %+v", c.Txn, *txn)
	}
	p.setFail(true)
	if err := h.Client().Outcome(context.Background(), txn, want); err == nil {
		t.Fatal("the plugin's error was not returned")
	}
	p.setFail(false)
}

// Outcome is declared only by a plugin that implements it.
func TestOutcomeDeclared(t *testing.T) {
	if hs := sdk.HooksOf(&fullPlugin{}); hs[len(hs)-1] != sdk.HookOutcome {
		t.Fatalf("fullPlugin declares %v", hs)
	}
	if hs := sdk.HooksOf(rcptOnly{}); len(hs) != 1 {
		t.Fatalf("rcptOnly declares %v", hs)
	}
}
