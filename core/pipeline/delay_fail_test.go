package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

// failingBatch is a batching recStage whose round trips fail as fail
// says: at one call (an *sdk.BatchCallError, with the verdicts before it,
// as a plugin of this SDK answers), or as a whole (fail returns -1, as
// when a plugin dies). It records each round trip's deadline, from now.
type failingBatch struct {
	*recStage
	fail  func(calls []sdk.HookCall) int // index of the failing call, -1 whole, len(calls) none
	until []time.Duration
}

func (b *failingBatch) Open(context.Context, *sdk.Session) (Conn, error) { return b, nil }

func (b *failingBatch) Hooks(ctx context.Context, calls []sdk.HookCall) ([]sdk.Verdict, error) {
	if dl, ok := ctx.Deadline(); ok {
		b.until = append(b.until, time.Until(dl))
	}
	at := b.fail(calls)
	if at < 0 {
		return nil, errStageCrashed
	}
	var vs []sdk.Verdict
	for i, c := range calls {
		if i == at {
			b.log.calls = append(b.log.calls, b.name+":"+string(c.Hook)+":failed")
			return vs, &sdk.BatchCallError{Index: i, Hook: c.Hook, Err: errStageCrashed}
		}
		v, _ := b.hook(c.Hook, c.Txn, c.Rcpt)
		vs = append(vs, v)
		if !v.PlainContinue() {
			break
		}
	}
	return vs, nil
}

// traceOf is the session's trace as "stage:hook:action" words.
func traceOf(s *Session) string {
	var got []string
	for _, te := range s.Trace() {
		got = append(got, te.Stage+":"+string(te.Hook)+":"+te.Action)
	}
	return strings.Join(got, " ")
}

// With delay_reject, a stage failing at the rcpt hook of one recipient
// costs that recipient alone (on_error), as without delay_reject: not the
// session, and not the recipients after it.
func TestDelayRejectRcptFailureIsThatRecipients(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		onError config.OnError
		code    int
	}{{config.OnErrorTempfail, 451}, {config.OnErrorReject, 554}} {
		log := &seen{}
		a := &failingBatch{recStage: newRec("a", log, nil), fail: func(calls []sdk.HookCall) int {
			for i, c := range calls {
				if c.Hook == sdk.HookRcpt && c.Rcpt.Addr == "x@y" {
					return i
				}
			}
			return len(calls)
		}}
		st := sc("a", a)
		st.OnError = tc.onError
		s := delayed(st, sc("b", batchStage{newRec("b", log, nil)})).Open(ctx, sdk.Session{})
		s.Connect(ctx)
		s.Helo(ctx, "client.example")
		s.Mail(ctx, "f@x", nil)
		if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "x@y"}); o.Reply == nil || o.Reply.Code != tc.code {
			t.Fatalf("%s: rcpt x@y: %+v, want %d", tc.onError, o, tc.code)
		}
		if got, want := traceOf(s), "a:connect:continue a:helo:continue a:mail:continue a:rcpt:error"; got != want {
			t.Fatalf("%s: trace %q, want %q", tc.onError, got, want)
		}
		expectCalls(t, log, `a:connect:tls=false,helo="",from=""`, "a:helo:client.example,tls=false", "a:mail:f@x,rcpts=0", "a:rcpt:failed")
		if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "ok@y"}); !o.OK() {
			t.Fatalf("%s: rcpt ok@y after x@y failed: %+v", tc.onError, o)
		}
		expectCalls(t, log, "a:rcpt:ok@y,from=f@x",
			`b:connect:tls=false,helo="",from=""`, "b:helo:client.example,tls=false", "b:mail:f@x,rcpts=0", "b:rcpt:ok@y,from=f@x")
		s.Reset(ctx)
		s.Mail(ctx, "g@x", nil)
		if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "ok2@y"}); !o.OK() {
			t.Fatalf("%s: next transaction: %+v", tc.onError, o)
		}
		if got := s.Envelope().Rcpts; len(got) != 1 || got[0].Addr != "ok2@y" {
			t.Fatalf("%s: envelope %v", tc.onError, got)
		}
	}
}

// A stage that fails a whole round trip without saying at which hook (it
// died, or is of an older SDK) costs the decision being made, the RCPT:
// the held hooks it did not answer stay held for it, and it gets them
// again with the next RCPT.
func TestDelayRejectWholeBatchFailure(t *testing.T) {
	ctx := context.Background()
	log := &seen{}
	failed := false
	a := &failingBatch{recStage: newRec("a", log, nil), fail: func(calls []sdk.HookCall) int {
		if !failed {
			failed = true
			return -1
		}
		return len(calls)
	}}
	s := delayed(sc("a", a), sc("b", batchStage{newRec("b", log, nil)})).Open(ctx, sdk.Session{})
	s.Connect(ctx)
	s.Mail(ctx, "f@x", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t1@y"}); o.Reply == nil || o.Reply.Code != 451 {
		t.Fatalf("rcpt 1: %+v, want 451", o)
	}
	if got, want := traceOf(s), "a:rcpt:error"; got != want {
		t.Fatalf("trace %q, want %q: the failure is the rcpt's, not connect's", got, want)
	}
	expectCalls(t, log)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t2@y"}); !o.OK() {
		t.Fatalf("rcpt 2: %+v", o)
	}
	expectCalls(t, log, `a:connect:tls=false,helo="",from=""`, "a:mail:f@x,rcpts=0", "a:rcpt:t2@y,from=f@x",
		`b:connect:tls=false,helo="",from=""`, "b:mail:f@x,rcpts=0", "b:rcpt:t2@y,from=f@x")
}

// A stage's timeout is per hook: a round trip of four held hooks has it
// four times.
func TestDelayRejectTimeoutPerHook(t *testing.T) {
	ctx := context.Background()
	log := &seen{}
	a := &failingBatch{recStage: newRec("a", log, nil), fail: func(calls []sdk.HookCall) int { return len(calls) }}
	st := sc("a", a)
	st.Timeout = time.Hour
	s := delayed(st).Open(ctx, sdk.Session{})
	s.Connect(ctx)
	s.Helo(ctx, "client.example")
	s.Mail(ctx, "f@x", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"}); !o.OK() {
		t.Fatalf("rcpt: %+v", o)
	}
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "u@y"}); !o.OK() {
		t.Fatalf("rcpt 2: %+v", o)
	}
	if len(a.until) != 2 || a.until[0] <= 3*time.Hour || a.until[0] > 4*time.Hour || a.until[1] > time.Hour {
		t.Fatalf("round trips' deadlines %v from their start, want 4h (4 hooks) then 1h (1 hook)", a.until)
	}
}
