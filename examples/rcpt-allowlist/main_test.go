package main

import (
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const cfg = `{"allow": ["alice@example.org", "@example.net"]}`

func TestDeclaresRcptOnly(t *testing.T) {
	h := sdktest.New(t, &Allowlist{}, cfg)
	if !reflect.DeepEqual(h.Info().Hooks, []sdk.Hook{sdk.HookRcpt}) {
		t.Errorf("Hooks = %v, want [rcpt]", h.Info().Hooks)
	}
}

func TestAllowlist(t *testing.T) {
	h := sdktest.New(t, &Allowlist{}, cfg)
	txn := sdktest.NewTxn("sender@example.com")
	for addr, allowed := range map[string]bool{
		"alice@example.org":     true,
		"Alice@Example.ORG":     true,
		"anyone@example.net":    true,
		"bob@EXAMPLE.NET":       true,
		"bob@example.org":       false,
		"alice@sub.example.net": false,
		"mallory@example.com":   false,
		"postmaster":            false,
	} {
		v := h.Rcpt(txn, addr)
		if allowed {
			if v.Action != sdk.ActionContinue {
				t.Errorf("%s: %+v, want Continue", addr, v)
			}
			continue
		}
		want := sdk.Reply{Code: 550, Enhanced: "5.7.1", Text: "recipient not allowed"}
		if v.Action != sdk.ActionReject || v.Reply == nil || *v.Reply != want {
			t.Errorf("%s: %+v, want reject %+v", addr, v, want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{``, `{"allow": []}`, `{"allow": ["example.org"]}`, `{"allow": ["a@"]}`, `{"alow": ["a@b"]}`} {
		if _, err := sdktest.Start(t, &Allowlist{}, c); err == nil {
			t.Errorf("config %q accepted", c)
		}
	}
}
