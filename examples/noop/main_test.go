package main

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

var raw = []byte("Subject: hi\r\n\r\nbody\r\n")

func TestEveryHookContinues(t *testing.T) {
	h := sdktest.New(t, &Noop{}, "")
	// Every hook up to bounce: not disconnect, which the benchmarks'
	// no-op stage must not declare (see the package doc), nor outcome,
	// a notification with no verdict to give.
	want := sdk.AllHooks[:slices.Index(sdk.AllHooks, sdk.HookBounce)+1]
	if !reflect.DeepEqual(h.Info().Hooks, want) || !h.Info().NeedsBody {
		t.Errorf("Info = %+v, want every hook up to bounce, with body", h.Info())
	}
	txn := sdktest.NewTxn("a@example.org", "b@example.org")
	verdicts := map[sdk.Hook]sdk.Verdict{
		sdk.HookConnect: h.Connect(txn.Session),
		sdk.HookHelo:    h.Helo(txn, "client.example.org"),
		sdk.HookAuth:    h.Auth(txn, "PLAIN", "a", []byte("pw")),
		sdk.HookMail:    h.Mail(txn),
		sdk.HookRcpt:    h.Rcpt(txn, "b@example.org"),
		sdk.HookData:    h.Data(txn, raw),
		sdk.HookDeliver: h.Deliver(txn, sdk.Recipient{Addr: "b@example.org"}),
		sdk.HookBounce:  h.Bounce(txn, raw),
	}
	for hook, v := range verdicts {
		if !reflect.DeepEqual(v, sdk.Continue()) {
			t.Errorf("%s = %+v, want Continue", hook, v)
		}
	}
}

func TestHeadersOnlyConfig(t *testing.T) {
	h := sdktest.New(t, &Noop{}, `{"headers_only": true}`)
	if h.Info().NeedsBody {
		t.Error("NeedsBody with headers_only = true")
	}
}

func BenchmarkData(b *testing.B) {
	h := sdktest.New(b, &Noop{}, "")
	txn := sdktest.NewTxn("a@example.org", "b@example.org")
	m, err := sdktest.ParseMessage(raw)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Client().Data(ctx, sdk.HookData, txn, m, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRcpt(b *testing.B) {
	h := sdktest.New(b, &Noop{}, "")
	txn := sdktest.NewTxn("a@example.org")
	r := &sdk.Recipient{Addr: "b@example.org"}
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Client().Hook(ctx, sdk.HookRcpt, txn, r, nil); err != nil {
			b.Fatal(err)
		}
	}
}
