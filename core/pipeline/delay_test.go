package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

var errStageCrashed = errors.New("plugin crashed")

// seen records the hook calls of recording stages, in the order made.
type seen struct {
	calls   []string
	batches []int // per round trip of a batching stage: how many hooks
}

// recStage answers every envelope hook with answer (Continue when it
// returns a zero Verdict) and records each call as "stage:hook:detail".
type recStage struct {
	goStage
	name   string
	log    *seen
	answer func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) sdk.Verdict
}

func newRec(name string, log *seen, answer func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) sdk.Verdict) *recStage {
	st := &recStage{name: name, log: log, answer: answer}
	st.hooks = map[sdk.Hook]bool{sdk.HookConnect: true, sdk.HookHelo: true, sdk.HookMail: true, sdk.HookRcpt: true, sdk.HookData: true}
	st.onHook = st.hook
	st.onData = func(t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
		log.calls = append(log.calls, name+":data:"+t.Envelope.MailFrom)
		return sdk.Continue(), nil
	}
	return st
}

func (r *recStage) Open(context.Context, *sdk.Session) (Conn, error) { return r, nil }

func (r *recStage) hook(h sdk.Hook, t *sdk.Txn, rc *sdk.Recipient) (sdk.Verdict, error) {
	detail := ""
	switch h {
	case sdk.HookConnect:
		detail = fmt.Sprintf("tls=%v,helo=%q,from=%q", t.Session.TLS, t.Session.Helo, t.Envelope.MailFrom)
	case sdk.HookHelo:
		detail = fmt.Sprintf("%s,tls=%v", t.Session.Helo, t.Session.TLS)
	case sdk.HookMail:
		detail = fmt.Sprintf("%s,rcpts=%d", t.Envelope.MailFrom, len(t.Envelope.Rcpts))
	case sdk.HookRcpt:
		detail = rc.Addr + ",from=" + t.Envelope.MailFrom
	}
	r.log.calls = append(r.log.calls, r.name+":"+string(h)+":"+detail)
	if r.answer != nil {
		return r.answer(h, t, rc), nil // a zero Verdict is Continue
	}
	return sdk.Continue(), nil
}

// batchStage is a recStage that takes held hooks in one call, with
// sdk.Client.Hooks' stopping rule.
type batchStage struct{ *recStage }

func (b batchStage) Open(context.Context, *sdk.Session) (Conn, error) { return b, nil }

func (b batchStage) Hooks(_ context.Context, calls []sdk.HookCall) ([]sdk.Verdict, error) {
	b.log.batches = append(b.log.batches, len(calls))
	var vs []sdk.Verdict
	for _, c := range calls {
		v, _ := b.hook(c.Hook, c.Txn, c.Rcpt)
		vs = append(vs, v)
		if !v.PlainContinue() {
			break
		}
	}
	return vs, nil
}

func delayed(stages ...StageConfig) *Pipeline {
	p := New(nil, stages...)
	p.SetDelayReject(true)
	return p
}

func expectCalls(t *testing.T, log *seen, want ...string) {
	t.Helper()
	if strings.Join(log.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n  %s\nwant:\n  %s", strings.Join(log.calls, "\n  "), strings.Join(want, "\n  "))
	}
	log.calls = nil
}

// The held hooks reach each stage at the first RCPT, stage by stage, each
// with the session and envelope of its own time; the trace still reads
// hook by hook; a batching stage gets them in one call.
func TestDelayRejectHoldsHooksUntilRcpt(t *testing.T) {
	ctx := context.Background()
	for _, batching := range []bool{false, true} {
		log := &seen{}
		var a, b Stage = newRec("a", log, nil), newRec("b", log, nil)
		if batching {
			a, b = batchStage{a.(*recStage)}, batchStage{b.(*recStage)}
		}
		s := delayed(sc("a", a), sc("b", b)).Open(ctx, sdk.Session{ID: "s1"})
		for _, o := range []Outcome{s.Connect(ctx), s.Helo(ctx, "first"), s.Helo(ctx, "second")} {
			if !o.OK() {
				t.Fatalf("held hook answered %+v", o)
			}
		}
		s.SetSession(func(ss *sdk.Session) { ss.TLS = true })
		if o := s.Mail(ctx, "from@x", nil); !o.OK() {
			t.Fatalf("mail %+v", o)
		}
		expectCalls(t, log) // nothing asked yet
		if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "to@y"}); !o.OK() {
			t.Fatalf("rcpt %+v", o)
		}
		stage := func(n string) []string {
			return []string{n + `:connect:tls=false,helo="",from=""`, n + ":helo:first,tls=false", n + ":helo:second,tls=false",
				n + ":mail:from@x,rcpts=0", n + ":rcpt:to@y,from=from@x"}
		}
		expectCalls(t, log, append(stage("a"), stage("b")...)...)
		if batching && fmt.Sprint(log.batches) != "[5 5]" {
			t.Fatalf("batches %v, want one of 5 per stage", log.batches)
		}
		if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "to2@y"}); !o.OK() {
			t.Fatalf("rcpt 2 %+v", o)
		}
		expectCalls(t, log, "a:rcpt:to2@y,from=from@x", "b:rcpt:to2@y,from=from@x")
		var hooks []string
		for _, te := range s.Trace() {
			hooks = append(hooks, te.Stage+":"+string(te.Hook))
		}
		want := "a:connect b:connect a:helo b:helo a:helo b:helo a:mail b:mail a:rcpt b:rcpt a:rcpt b:rcpt"
		if got := strings.Join(hooks, " "); got != want {
			t.Fatalf("trace %s\nwant  %s", got, want)
		}
		// A second transaction holds only its mail hook back.
		s.Reset(ctx)
		s.Mail(ctx, "next@x", nil)
		expectCalls(t, log)
		s.Rcpt(ctx, sdk.Recipient{Addr: "to3@y"})
		expectCalls(t, log, "a:mail:next@x,rcpts=0", "a:rcpt:to3@y,from=next@x", "b:mail:next@x,rcpts=0", "b:rcpt:to3@y,from=next@x")
		s.Close()
	}
}

// A refusal at connect is the reply to every RCPT of the session; later
// stages are never asked; nothing is asked again.
func TestDelayRejectConnectRefusalLastsTheSession(t *testing.T) {
	ctx := context.Background()
	log := &seen{}
	deny := func(h sdk.Hook, _ *sdk.Txn, _ *sdk.Recipient) sdk.Verdict {
		if h == sdk.HookConnect {
			return sdk.Reject(554, "5.7.1", "listed")
		}
		return sdk.Verdict{}
	}
	s := delayed(sc("a", batchStage{newRec("a", log, deny)}), sc("b", newRec("b", log, nil))).Open(ctx, sdk.Session{})
	s.Connect(ctx)
	s.Helo(ctx, "h")
	s.Mail(ctx, "f@x", nil)
	for i := 0; i < 2; i++ {
		_, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"})
		if o.Reply == nil || o.Reply.Code != 554 || o.Reply.Text != "listed" {
			t.Fatalf("rcpt %d: %+v", i, o)
		}
	}
	expectCalls(t, log, `a:connect:tls=false,helo="",from=""`)
	s.Reset(ctx)
	s.Mail(ctx, "f2@x", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"}); o.Reply == nil || o.Reply.Code != 554 {
		t.Fatalf("next transaction: %+v", o)
	}
	expectCalls(t, log)
	if got := s.Envelope().Rcpts; len(got) != 0 {
		t.Fatalf("refused recipients joined the envelope: %v", got)
	}
}

// A refusal at mail lasts its transaction only; the next one is asked.
func TestDelayRejectMailRefusalLastsTheTransaction(t *testing.T) {
	ctx := context.Background()
	log := &seen{}
	deny := func(h sdk.Hook, tx *sdk.Txn, _ *sdk.Recipient) sdk.Verdict {
		if h == sdk.HookMail && tx.Envelope.MailFrom == "bad@x" {
			return sdk.Tempfail(451, "4.7.1", "greylisted")
		}
		return sdk.Verdict{}
	}
	s := delayed(sc("a", newRec("a", log, deny)), sc("b", batchStage{newRec("b", log, nil)})).Open(ctx, sdk.Session{})
	s.Connect(ctx)
	s.Mail(ctx, "bad@x", nil)
	for i := 0; i < 2; i++ {
		if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"}); o.Reply == nil || o.Reply.Code != 451 {
			t.Fatalf("rcpt %d: %+v", i, o)
		}
	}
	expectCalls(t, log, `a:connect:tls=false,helo="",from=""`, "a:mail:bad@x,rcpts=0")
	s.Reset(ctx)
	s.Mail(ctx, "good@x", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"}); !o.OK() {
		t.Fatalf("next transaction: %+v", o)
	}
	// b never got connect while a's refusal stood; it gets it now.
	expectCalls(t, log, "a:mail:good@x,rcpts=0", "a:rcpt:t@y,from=good@x",
		`b:connect:tls=false,helo="",from=""`, "b:mail:good@x,rcpts=0", "b:rcpt:t@y,from=good@x")
}

// An edit at mail is applied before the same stage's rcpt and the next
// stage's mail see the envelope; an accept skips the hook at later stages
// only; envelope edits before MAIL are ignored.
func TestDelayRejectEditsAndAccept(t *testing.T) {
	ctx := context.Background()
	log := &seen{}
	a := func(h sdk.Hook, _ *sdk.Txn, _ *sdk.Recipient) sdk.Verdict {
		switch h {
		case sdk.HookConnect:
			return sdk.Continue(sdk.SetSender{Addr: "ignored@x"})
		case sdk.HookHelo:
			return sdk.Accept()
		case sdk.HookMail:
			return sdk.Continue(sdk.SetSender{Addr: "rewritten@x"})
		}
		return sdk.Verdict{}
	}
	sa := batchStage{newRec("a", log, a)}
	var bSawResult bool
	b := func(h sdk.Hook, t *sdk.Txn, _ *sdk.Recipient) sdk.Verdict {
		switch h {
		case sdk.HookMail:
			v := sdk.Continue()
			v.AuthResults = []sdk.AuthResult{{Method: "spf", Result: "pass"}}
			return v
		case sdk.HookRcpt:
			bSawResult = len(t.AuthResults) == 1 && t.AuthResults[0].Stage == "b"
		}
		return sdk.Verdict{}
	}
	s := delayed(sc("a", sa), sc("b", batchStage{newRec("b", log, b)})).Open(ctx, sdk.Session{})
	s.Connect(ctx)
	s.Helo(ctx, "h")
	s.Mail(ctx, "orig@x", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"}); !o.OK() {
		t.Fatalf("rcpt %+v", o)
	}
	expectCalls(t, log, `a:connect:tls=false,helo="",from=""`, "a:helo:h,tls=false", "a:mail:orig@x,rcpts=0",
		"a:rcpt:t@y,from=rewritten@x",
		`b:connect:tls=false,helo="",from=""`, "b:mail:rewritten@x,rcpts=0", "b:rcpt:t@y,from=rewritten@x")
	// a: one batch stopped by the edit at connect, one by the accept, one
	// by the edit at mail, then the rcpt; b: one stopped by its result at
	// mail, which its rcpt then sees.
	if fmt.Sprint(log.batches) != "[4 3 2 1 3 1]" {
		t.Fatalf("batches %v", log.batches)
	}
	if !bSawResult {
		t.Fatal("b's rcpt did not see b's authentication result from mail")
	}
	if got := s.Envelope().MailFrom; got != "rewritten@x" {
		t.Fatalf("sender %q", got)
	}
	tr := s.Trace()
	if tr[0].Hook != sdk.HookConnect || len(tr[0].Edits) != 1 || !strings.Contains(tr[0].Edits[0], "ignored at connect") {
		t.Fatalf("connect edit not marked ignored: %+v", tr[0])
	}
}

// A stage that fails in a batch gets its on_error at the hook it failed;
// with continue the next stage is asked everything.
func TestDelayRejectStageErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		onError config.OnError
		code    int
	}{{config.OnErrorTempfail, 451}, {config.OnErrorContinue, 0}} {
		log := &seen{}
		broken := &goStage{hooks: map[sdk.Hook]bool{sdk.HookConnect: true, sdk.HookMail: true}, onHook: func(h sdk.Hook, _ *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
			if h == sdk.HookMail {
				return sdk.Verdict{}, errStageCrashed
			}
			return sdk.Continue(), nil
		}}
		bad := sc("bad", broken)
		bad.OnError = tc.onError
		s := delayed(bad, sc("b", newRec("b", log, nil))).Open(ctx, sdk.Session{})
		s.Connect(ctx)
		s.Mail(ctx, "f@x", nil)
		_, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"})
		if tc.code == 0 {
			if !o.OK() {
				t.Fatalf("%s: %+v", tc.onError, o)
			}
			expectCalls(t, log, `b:connect:tls=false,helo="",from=""`, "b:mail:f@x,rcpts=0", "b:rcpt:t@y,from=f@x")
			continue
		}
		if o.Reply == nil || o.Reply.Code != tc.code {
			t.Fatalf("%s: %+v", tc.onError, o)
		}
		expectCalls(t, log)
		var got []string
		for _, te := range s.Trace() {
			got = append(got, te.Stage+":"+string(te.Hook)+":"+te.Action)
		}
		if strings.Join(got, " ") != "bad:connect:continue bad:mail:error" {
			t.Fatalf("trace %v", got)
		}
	}
}

// Hooks held when the session ends are never asked; a transaction reset
// before RCPT drops its mail hook; DATA asks what no RCPT did.
func TestDelayRejectUnaskedAndData(t *testing.T) {
	ctx := context.Background()
	log := &seen{}
	s := delayed(sc("a", newRec("a", log, nil))).Open(ctx, sdk.Session{})
	s.Connect(ctx)
	s.Mail(ctx, "dropped@x", nil)
	s.Reset(ctx)
	s.Mail(ctx, "kept@x", nil)
	expectCalls(t, log)
	if o := s.Data(ctx, ParseMessage([]byte(raw))); !o.OK() {
		t.Fatalf("data %+v", o)
	}
	expectCalls(t, log, `a:connect:tls=false,helo="",from=""`, "a:mail:kept@x,rcpts=0", "a:data:kept@x")
	s.Reset(ctx)
	s.Mail(ctx, "never@x", nil)
	s.Close()
	expectCalls(t, log)
}

// A refusal at rcpt refuses that recipient only: the later stage gets the
// held hooks with the next recipient.
func TestDelayRejectRcptRefusalKeepsHooksForLaterStages(t *testing.T) {
	ctx := context.Background()
	log := &seen{}
	deny := func(h sdk.Hook, _ *sdk.Txn, r *sdk.Recipient) sdk.Verdict {
		if h == sdk.HookRcpt && r.Addr == "nobody@y" {
			return sdk.Reject(550, "5.1.1", "no such user")
		}
		return sdk.Verdict{}
	}
	s := delayed(sc("a", batchStage{newRec("a", log, deny)}), sc("b", batchStage{newRec("b", log, nil)})).Open(ctx, sdk.Session{})
	s.Connect(ctx)
	s.Mail(ctx, "f@x", nil)
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "nobody@y"}); o.Reply == nil || o.Reply.Code != 550 {
		t.Fatalf("rcpt 1: %+v", o)
	}
	expectCalls(t, log, `a:connect:tls=false,helo="",from=""`, "a:mail:f@x,rcpts=0", "a:rcpt:nobody@y,from=f@x")
	if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "ok@y"}); !o.OK() {
		t.Fatalf("rcpt 2: %+v", o)
	}
	expectCalls(t, log, "a:rcpt:ok@y,from=f@x",
		`b:connect:tls=false,helo="",from=""`, "b:mail:f@x,rcpts=0", "b:rcpt:ok@y,from=f@x")
	if got := s.Envelope().Rcpts; len(got) != 1 || got[0].Addr != "ok@y" {
		t.Fatalf("envelope %v", got)
	}
}

// AUTH asks the held connect and helo hooks first, then the auth hook, so
// a stage sees them in SMTP order; a session refused at connect gets no
// say from the stages on its credentials.
func TestDelayRejectAuthComesAfterHeldHooks(t *testing.T) {
	ctx := context.Background()
	for _, refuse := range []bool{false, true} {
		log := &seen{}
		st := &authRec{recStage: newRec("a", log, func(h sdk.Hook, _ *sdk.Txn, _ *sdk.Recipient) sdk.Verdict {
			if refuse && h == sdk.HookConnect {
				return sdk.Reject(554, "5.7.1", "listed")
			}
			return sdk.Verdict{}
		})}
		st.hooks[sdk.HookAuth] = true
		s := delayed(sc("a", st)).Open(ctx, sdk.Session{})
		s.Connect(ctx)
		s.Helo(ctx, "h")
		o := s.Auth(ctx, "PLAIN", "alice", []byte("pw"))
		if refuse {
			expectCalls(t, log, `a:connect:tls=false,helo="",from=""`)
			if o.Action != sdk.ActionContinue || o.Reply != nil {
				t.Fatalf("auth after a refusal: %+v", o)
			}
			s.Mail(ctx, "f@x", nil)
			if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: "t@y"}); o.Reply == nil || o.Reply.Code != 554 {
				t.Fatalf("rcpt after a refusal at connect: %+v", o)
			}
			continue
		}
		if o.Action != sdk.ActionAccept {
			t.Fatalf("auth: %+v", o)
		}
		expectCalls(t, log, `a:connect:tls=false,helo="",from=""`, "a:helo:h,tls=false", "a:auth:alice")
	}
}

// authRec is a recStage with an auth hook that accepts anyone.
type authRec struct{ *recStage }

func (a *authRec) Open(context.Context, *sdk.Session) (Conn, error) { return a, nil }
func (a *authRec) Auth(_ context.Context, _ *sdk.Txn, ar *sdk.AuthArgs) (sdk.Verdict, error) {
	a.log.calls = append(a.log.calls, a.name+":auth:"+ar.User)
	return sdk.Accept(), nil
}
