package sdktest_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// sessionKeeper keeps a record per session, as a plugin with per-session
// state does, and drops it at Disconnect.
type sessionKeeper struct {
	sdk.Base
	mu    sync.Mutex
	seen  map[string]bool
	ended []sdk.Session
	fail  error
}

func (p *sessionKeeper) Connect(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[t.Session.ID] = true
	return sdk.Continue(), nil
}

func (p *sessionKeeper) Mail(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.Connect(ctx, t)
}

func (p *sessionKeeper) Deliver(context.Context, *sdk.Txn, sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

func (p *sessionKeeper) Disconnect(_ context.Context, s sdk.Session) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.seen, s.ID)
	p.ended = append(p.ended, s)
	return p.fail
}

// The sessions a test's hook calls used end with the disconnect hook:
// one ended by Disconnect at once, the others when the test ends, in the
// order they began, each with the session of its last call.
func TestHarnessEndsSessions(t *testing.T) {
	p := &sessionKeeper{seen: map[string]bool{}}
	a := sdktest.DefaultSession
	b := sdktest.DefaultSession
	b.ID = "other"
	c := sdktest.DefaultSession
	c.ID = "ended"
	t.Run("script", func(t *testing.T) {
		rec := &recorder{TB: t}
		h := sdktest.New(rec, p, "")
		if !reflect.DeepEqual(h.Info().Hooks, []sdk.Hook{sdk.HookConnect, sdk.HookMail, sdk.HookDeliver, sdk.HookDisconnect}) {
			t.Fatalf("hooks %v", h.Info().Hooks)
		}
		h.Connect(a)
		h.Connect(b)
		h.Connect(c)
		h.Disconnect(c)
		txn := &sdk.Txn{Session: a, Envelope: sdk.Envelope{MailFrom: "x@example.org"}}
		txn.Session.Transaction = 2
		h.Mail(txn)
		a = txn.Session
		h.Deliver(txn, sdk.Recipient{Addr: "y@example.org"}) // no SMTP session's
		if len(rec.logs)+len(rec.errs) != 0 {
			t.Errorf("logs %q, errors %q", rec.logs, rec.errs)
		}
	})
	if want := []sdk.Session{c, a, b}; !reflect.DeepEqual(p.ended, want) {
		t.Fatalf("disconnects:\n got %+v\nwant %+v", p.ended, want)
	}
	if len(p.seen) != 0 {
		t.Fatalf("sessions kept: %v", p.seen)
	}
}

// A disconnect hook that fails at the end of the test fails the test.
func TestHarnessEndFails(t *testing.T) {
	p := &sessionKeeper{seen: map[string]bool{}, fail: errors.New("store closed")}
	var rec *recorder
	t.Run("script", func(t *testing.T) {
		rec = &recorder{TB: t}
		sdktest.New(rec, p, "").Connect(sdktest.DefaultSession)
	})
	if len(rec.errs) != 1 || rec.errs[0] != `sdktest: the disconnect hook at the end of session "sdktest": sdk: disconnect hook: rpc error: code = Unknown desc = disconnect: store closed` {
		t.Fatalf("errors %q", rec.errs)
	}
}

// A plugin without the hook is sent none.
func TestHarnessNoDisconnectUndeclared(t *testing.T) {
	rec := &recorder{TB: t}
	h := sdktest.New(rec, &pointerHooks{}, "")
	h.Data(sdktest.NewTxn("a@example.org"), []byte("Subject: x\r\n\r\nhi\r\n"))
	t.Cleanup(func() {
		if len(rec.errs)+len(rec.logs) != 0 {
			t.Errorf("logs %q, errors %q", rec.logs, rec.errs)
		}
	})
}
