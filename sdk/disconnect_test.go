package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// The disconnect hook reaches DisconnectHook with the session whole; its
// answer is a plain continue, and its error the call's.
func TestDisconnectRoundTrip(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	s := fullTxn().Session
	v, err := h.Client().Hook(context.Background(), sdk.HookDisconnect, &sdk.Txn{Session: s}, nil, nil)
	if err != nil || !v.PlainContinue() {
		t.Fatalf("verdict %+v, err %v", v, err)
	}
	if got := p.endedSessions(); !reflect.DeepEqual(got, []sdk.Session{s}) {
		t.Fatalf("plugin saw %+v, want %+v", got, s)
	}
	p.mu.Lock()
	p.disconnectErr = errors.New("store closed")
	p.mu.Unlock()
	_, err = h.Client().Hook(context.Background(), sdk.HookDisconnect, &sdk.Txn{Session: s}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Fatalf("err %v, want the plugin's", err)
	}
	p.mu.Lock()
	p.disconnectErr = nil
	p.mu.Unlock()
}

// Disconnect is declared only by a plugin that implements it.
func TestDisconnectDeclared(t *testing.T) {
	if hs := sdk.HooksOf(&fullPlugin{}); hs[len(hs)-2] != sdk.HookDisconnect {
		t.Fatalf("fullPlugin declares %v", hs)
	}
	if hs := sdk.HooksOf(rcptOnly{}); !reflect.DeepEqual(hs, []sdk.Hook{sdk.HookRcpt}) {
		t.Fatalf("rcptOnly declares %v", hs)
	}
}
