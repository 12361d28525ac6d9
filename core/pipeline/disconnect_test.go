package pipeline

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// endStage records, in a log shared by the stages of a test, each hook it
// is asked and when its session is closed.
type endStage struct {
	goStage
	name string
	log  *[]string
}

func (e *endStage) Open(context.Context, *sdk.Session) (Conn, error) { return e, nil }
func (e *endStage) Declares(h sdk.Hook) bool                         { return e.hooks[h] }
func (e *endStage) Close() error {
	*e.log = append(*e.log, e.name+" close")
	return nil
}

func newEndStage(name string, log *[]string, accept sdk.Hook, hooks ...sdk.Hook) *endStage {
	e := &endStage{goStage: goStage{hooks: map[sdk.Hook]bool{}}, name: name, log: log}
	for _, h := range hooks {
		e.hooks[h] = true
	}
	e.onHook = func(h sdk.Hook, t *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
		*log = append(*log, fmt.Sprintf("%s %s %s %d", name, h, t.Session.Helo, t.Session.Transaction))
		if h == accept {
			return sdk.Accept(), nil
		}
		return sdk.Continue(), nil
	}
	return e
}

// The disconnect hook goes, when the session ends, to each stage that
// declares it and was asked a hook of the session, in stage order, with
// the session as it ended; not to one an earlier accept kept from every
// hook it declared, nor to one that does not declare it. The others'
// sessions are closed at End, the disconnected ones' after their call.
func TestDisconnectOnlyStagesAsked(t *testing.T) {
	ctx := context.Background()
	var log []string
	a := newEndStage("a", &log, sdk.HookConnect, sdk.HookConnect, sdk.HookMail, sdk.HookDisconnect)
	b := newEndStage("b", &log, "", sdk.HookConnect, sdk.HookDisconnect)                      // skipped: a accepts at connect
	c := newEndStage("c", &log, "", sdk.HookMail)                                             // asked, declares no disconnect
	d := newEndStage("d", &log, sdk.HookMail, sdk.HookHelo, sdk.HookMail, sdk.HookDisconnect) // asked
	p := New(nil, sc("a", a), sc("b", b), sc("c", c), sc("d", d))
	s := p.Open(ctx, sdk.Session{ID: "s1"})
	s.Connect(ctx)
	s.Helo(ctx, "h1")
	s.Mail(ctx, "x@example.org", nil)
	s.Reset(ctx)
	s.Mail(ctx, "y@example.org", nil)
	log = nil
	disconnect := s.End()
	if want := []string{"b close", "c close"}; !reflect.DeepEqual(log, want) {
		t.Fatalf("at End: %q, want %q", log, want)
	}
	log = nil
	disconnect(ctx)
	if want := []string{"a disconnect h1 2", "a close", "d disconnect h1 2", "d close"}; !reflect.DeepEqual(log, want) {
		t.Fatalf("disconnect: %q, want %q", log, want)
	}
}

// With delay_reject, a session that ended before any decision asked no
// stage anything, so none is owed the disconnect hook; one that got as
// far as a RCPT is.
func TestDisconnectDelayReject(t *testing.T) {
	ctx := context.Background()
	var log []string
	a := newEndStage("a", &log, "", sdk.HookConnect, sdk.HookHelo, sdk.HookMail, sdk.HookRcpt, sdk.HookDisconnect)
	p := New(nil, sc("a", a))
	p.SetDelayReject(true)
	s := p.Open(ctx, sdk.Session{ID: "s1"})
	s.Connect(ctx)
	s.Helo(ctx, "h1")
	s.Mail(ctx, "x@example.org", nil)
	if s.End() != nil || len(log) != 1 || log[0] != "a close" {
		t.Fatalf("a session without a decision: %q", log)
	}
	log = nil
	s = p.Open(ctx, sdk.Session{ID: "s2"})
	s.Connect(ctx)
	s.Helo(ctx, "h2")
	s.Mail(ctx, "x@example.org", nil)
	s.Rcpt(ctx, sdk.Recipient{Addr: "r@example.org"})
	s.Close()
	want := []string{"a connect  0", "a helo h2 0", "a mail h2 1", "a rcpt h2 1", "a disconnect h2 1", "a close"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("got %q, want %q", log, want)
	}
}

// A disconnect hook's verdict is ignored and its failure only logged,
// with no on_error; both count in the stage's calls, verdicts and errors.
func TestDisconnectCounted(t *testing.T) {
	ctx := context.Background()
	var log []string
	st := newEndStage("a", &log, "", sdk.HookConnect, sdk.HookDisconnect)
	fail := false
	st.onHook = func(h sdk.Hook, _ *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
		if h == sdk.HookDisconnect && fail {
			return sdk.Verdict{}, errors.New("store closed")
		}
		if h == sdk.HookDisconnect {
			return sdk.Reject(550, "5.7.1", "too late"), nil
		}
		return sdk.Continue(), nil
	}
	p := New(nil, sc("a", st))
	var seen []string
	p.SetObserver(func(stage string, hook sdk.Hook, verdict string, _ time.Duration, failed bool) {
		seen = append(seen, fmt.Sprintf("%s %s %s %v", stage, hook, verdict, failed))
	})
	for _, f := range []bool{false, true} {
		fail = f
		s := p.Open(ctx, sdk.Session{ID: "s"})
		s.Connect(ctx)
		s.Close()
	}
	want := []string{"a connect continue false", "a disconnect reject false", "a connect continue false", "a disconnect error true"}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("observed %q, want %q", seen, want)
	}
	st0 := p.Status()[0]
	if st0.Calls != 4 || st0.Errors != 1 || st0.Verdicts["reject"] != 1 || st0.Verdicts["error"] != 1 {
		t.Fatalf("status %+v", st0)
	}
}

// A report's bounce session is no SMTP session: no disconnect hook.
func TestNoDisconnectAfterBounce(t *testing.T) {
	var log []string
	st := newEndStage("a", &log, "", sdk.HookBounce, sdk.HookDisconnect)
	st.onData = func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		log = append(log, "a bounce")
		return sdk.Continue(), nil
	}
	New(nil, sc("a", st)).Bounce(context.Background(), "Q1", "", []string{"s@example.org"}, []byte(raw))
	if want := []string{"a bounce", "a close"}; !reflect.DeepEqual(log, want) {
		t.Fatalf("got %q, want %q", log, want)
	}
}
