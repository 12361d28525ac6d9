package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

// goStage is an in-process stage: the runner's logic is under test here;
// real plugin processes are exercised in core/plugin and end to end.
type goStage struct {
	hooks   map[sdk.Hook]bool
	onData  func(t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error)
	onHook  func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error)
	openErr error
}

func (g *goStage) Kind() string          { return "plugin" }
func (g *goStage) Health() (string, int) { return "running", 0 }
func (g *goStage) Wants(h sdk.Hook) bool { return g.hooks[h] }
func (g *goStage) NeedsBody() bool       { return true }
func (g *goStage) Reset(context.Context) {}
func (g *goStage) Close() error          { return nil }
func (g *goStage) Open(context.Context, *sdk.Session) (Conn, error) {
	if g.openErr != nil {
		return nil, g.openErr
	}
	return g, nil
}
func (g *goStage) Hook(ctx context.Context, h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
	return g.onHook(h, t, r)
}
func (g *goStage) Data(ctx context.Context, h sdk.Hook, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	return g.onData(t, m)
}

func dataStage(f func(t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error)) *goStage {
	return &goStage{hooks: map[sdk.Hook]bool{sdk.HookData: true}, onData: f}
}

func sc(name string, s Stage) StageConfig {
	return StageConfig{Name: name, Stage: s, Timeout: time.Second}
}

const raw = "Received: from x\r\nSubject: hello\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody line\r\n"

func TestOrderIsConfigOrder(t *testing.T) {
	prefix := func(p string) *goStage {
		return dataStage(func(_ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
			return sdk.Continue(sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: p + m.Get("Subject")}), nil
		})
	}
	for _, tc := range []struct {
		order []string
		want  string
	}{{[]string{"a", "b"}, "[b][a]hello"}, {[]string{"b", "a"}, "[a][b]hello"}} {
		var stages []StageConfig
		for _, n := range tc.order {
			stages = append(stages, sc(n, prefix("["+n+"]")))
		}
		p := New(nil, stages...)
		s := p.Open(context.Background(), sdk.Session{ID: "s1"})
		msg := ParseMessage([]byte(raw))
		if o := s.Data(context.Background(), msg); !o.OK() {
			t.Fatalf("outcome %+v", o)
		}
		if got := msg.Get("Subject"); got != tc.want {
			t.Fatalf("order %v: Subject %q, want %q", tc.order, got, tc.want)
		}
	}
}

func TestUntouchedMessageIsByteIdentical(t *testing.T) {
	odd := "Received: from x\r\n\tfolded\r\nsubject:no-space\r\n\r\nbody\r\n"
	if got := string(ParseMessage([]byte(odd)).Bytes()); got != odd {
		t.Fatalf("%q", got)
	}
}

func TestEveryHeaderAndBodyEdit(t *testing.T) {
	st := dataStage(func(_ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
		return sdk.Continue(
			sdk.AddHeader{Name: "X-Added", Value: "yes"},
			sdk.InsertHeader{Index: 0, Name: "X-Top", Value: "first"},
			sdk.ChangeHeader{Name: "X-A", Occurrence: 2, Value: "two"},
			sdk.DeleteHeader{Name: "X-A", Occurrence: 1},
			sdk.ChangeHeader{Name: "X-Folded", Value: "a\n\tb"},
			sdk.ReplaceBody{Body: []byte("new body\r\n")},
		), nil
	})
	p := New(nil, sc("edit", st))
	s := p.Open(context.Background(), sdk.Session{})
	msg := ParseMessage([]byte(raw))
	s.Data(context.Background(), msg)
	want := "X-Top: first\r\nReceived: from x\r\nSubject: hello\r\nX-A: two\r\nX-Added: yes\r\nX-Folded: a\r\n\tb\r\n\r\nnew body\r\n"
	if got := string(msg.Bytes()); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	tr := s.Trace()
	if len(tr) != 1 || len(tr[0].Edits) != 6 || tr[0].Action != "continue" {
		t.Fatalf("trace %+v", tr)
	}
}

// A stage sees each received field's bytes as received (without its line
// break) in Raw; a field an earlier stage changed, inserted or added has
// none, so no later stage (DKIM's simple canonicalization) trusts bytes
// that are no longer the field's.
func TestRawHeadersAndEdits(t *testing.T) {
	in := "Received: from x\r\n\tby y\r\nsubject:no-space\r\nX-A: 1\r\nX-A:\t2\nX-Keep: k\r\n\r\nbody\r\n"
	var first, second []sdk.Header
	edit := dataStage(func(_ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
		first = m.Headers
		return sdk.Continue(
			sdk.ChangeHeader{Name: "Subject", Value: "changed"},
			sdk.ChangeHeader{Name: "X-A", Occurrence: 2, Value: "two"},
			sdk.InsertHeader{Index: 0, Name: "X-Top", Value: "top"},
			sdk.AddHeader{Name: "X-Added", Value: "added"},
		), nil
	})
	look := dataStage(func(_ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
		second = m.Headers
		return sdk.Continue(), nil
	})
	s := New(nil, sc("edit", edit), sc("look", look)).Open(context.Background(), sdk.Session{})
	if o := s.Data(context.Background(), ParseMessage([]byte(in))); !o.OK() {
		t.Fatalf("outcome %+v", o)
	}
	wantFirst := []string{"Received: from x\r\n\tby y", "subject:no-space", "X-A: 1", "X-A:\t2", "X-Keep: k"}
	if len(first) != len(wantFirst) {
		t.Fatalf("first stage saw %q", first)
	}
	for i, h := range first {
		if string(h.Raw) != wantFirst[i] {
			t.Errorf("first stage: %s Raw %q, want %q", h.Name, h.Raw, wantFirst[i])
		}
	}
	wantSecond := []struct{ name, raw string }{
		{"X-Top", ""}, {"Received", "Received: from x\r\n\tby y"}, {"subject", ""},
		{"X-A", "X-A: 1"}, {"X-A", ""}, {"X-Keep", "X-Keep: k"}, {"X-Added", ""},
	}
	if len(second) != len(wantSecond) {
		t.Fatalf("second stage saw %q", second)
	}
	for i, w := range wantSecond {
		if h := second[i]; h.Name != w.name || string(h.Raw) != w.raw || (w.raw == "") != (h.Raw == nil) {
			t.Errorf("second stage field %d: %s Raw %q, want %s Raw %q", i, h.Name, h.Raw, w.name, w.raw)
		}
	}
}

func TestEnvelopeEditsAndRoute(t *testing.T) {
	st := &goStage{hooks: map[sdk.Hook]bool{sdk.HookRcpt: true, sdk.HookData: true},
		onHook: func(h sdk.Hook, t *sdk.Txn, r *sdk.Recipient) (sdk.Verdict, error) {
			return sdk.Continue(sdk.SetRoute{Route: "lmtp:unix:/run/lmtp"}), nil
		},
		onData: func(t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
			return sdk.Continue(sdk.SetSender{Addr: "bounce@x"}, sdk.AddRecipient{Addr: "archive@x"}, sdk.RemoveRecipient{Addr: "a@x"}), nil
		}}
	p := New(nil, sc("env", st))
	s := p.Open(context.Background(), sdk.Session{})
	s.Mail(context.Background(), "from@x", nil)
	r, o := s.Rcpt(context.Background(), sdk.Recipient{Addr: "a@x"})
	if !o.OK() || r.Route != "lmtp:unix:/run/lmtp" {
		t.Fatalf("rcpt %+v %+v", r, o)
	}
	s.Rcpt(context.Background(), sdk.Recipient{Addr: "b@x"})
	s.Data(context.Background(), ParseMessage([]byte(raw)))
	env := s.Envelope()
	if env.MailFrom != "bounce@x" || len(env.Rcpts) != 2 || env.Rcpts[0].Addr != "b@x" || env.Rcpts[1].Addr != "archive@x" {
		t.Fatalf("envelope %+v", env)
	}
}

func TestActions(t *testing.T) {
	verdict := func(v sdk.Verdict) *goStage {
		return dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return v, nil })
	}
	later := 0
	counter := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { later++; return sdk.Continue(), nil })
	cases := []struct {
		v         sdk.Verdict
		reply     string
		action    sdk.Action
		laterRuns bool
	}{
		{sdk.Continue(), "", sdk.ActionContinue, true},
		{sdk.Accept(), "", sdk.ActionAccept, false},
		{sdk.Reject(550, "5.7.1", "go away"), "550 5.7.1 go away", sdk.ActionReject, false},
		{sdk.Reject(250, "2.0.0", "not a reject code"), "550 5.7.1 not a reject code", sdk.ActionReject, false},
		{sdk.Tempfail(450, "4.2.0", "later\r\nInjected: x"), "450 4.2.0 later  Injected: x", sdk.ActionTempfail, false},
		{sdk.Verdict{Action: sdk.ActionTempfail}, "451 4.7.1 Try again later", sdk.ActionTempfail, false},
		{sdk.Discard("spam"), "", sdk.ActionDiscard, false},
		// A quarantine marks the message; the later stages are still
		// asked (TestQuarantineAtDataAsksLaterStages).
		{sdk.Quarantine("suspicious"), "", sdk.ActionQuarantine, true},
	}
	for _, tc := range cases {
		later = 0
		p := New(nil, sc("first", verdict(tc.v)), sc("later", counter))
		s := p.Open(context.Background(), sdk.Session{})
		o := s.Data(context.Background(), ParseMessage([]byte(raw)))
		got := ""
		if o.Reply != nil {
			got = o.Reply.String()
		}
		if got != tc.reply || o.Action != tc.action || (later == 1) != tc.laterRuns {
			t.Errorf("%v: reply %q action %v later %d", tc.v.Action, got, o.Action, later)
		}
	}
}

func TestOnError(t *testing.T) {
	failing := dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return sdk.Verdict{}, errors.New("boom") })
	for _, tc := range []struct {
		on   config.OnError
		want string
	}{
		{config.OnErrorTempfail, "451 4.3.0 "},
		{config.OnErrorReject, "554 5.3.0 "},
		{config.OnErrorContinue, ""},
	} {
		p := New(nil, StageConfig{Name: "f", Stage: failing, Timeout: time.Second, OnError: tc.on})
		s := p.Open(context.Background(), sdk.Session{})
		o := s.Data(context.Background(), ParseMessage([]byte(raw)))
		got := ""
		if o.Reply != nil {
			got = o.Reply.String()
		}
		if !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("on_error %s: %q", tc.on, got)
		}
		st := p.Status()[0]
		if st.Calls != 1 || st.Errors != 1 {
			t.Errorf("stats %+v", st)
		}
		if tr := s.Trace(); tr[0].Action != "error" || tr[0].OnError != string(tc.on) {
			t.Errorf("trace %+v", tr)
		}
	}
}

func TestTimeoutAppliesOnError(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	p := New(nil, StageConfig{Name: "hung", Stage: &ctxStage{block: block}, Timeout: 50 * time.Millisecond})
	s := p.Open(context.Background(), sdk.Session{})
	o := s.Mail(context.Background(), "a@b", nil)
	if o.Reply == nil || o.Reply.Code != 451 {
		t.Fatalf("outcome %+v", o)
	}
}

// ctxStage blocks until its context ends, as a hung plugin's RPC does.
type ctxStage struct{ block chan struct{} }

func (c *ctxStage) Kind() string                                     { return "plugin" }
func (c *ctxStage) Health() (string, int)                            { return "running", 0 }
func (c *ctxStage) Open(context.Context, *sdk.Session) (Conn, error) { return c, nil }
func (c *ctxStage) Wants(sdk.Hook) bool                              { return true }
func (c *ctxStage) NeedsBody() bool                                  { return false }
func (c *ctxStage) Reset(context.Context)                            {}
func (c *ctxStage) Close() error                                     { return nil }
func (c *ctxStage) Data(ctx context.Context, _ sdk.Hook, _ *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
	return c.Hook(ctx, "", nil, nil)
}
func (c *ctxStage) Hook(ctx context.Context, _ sdk.Hook, _ *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
	select {
	case <-ctx.Done():
		return sdk.Verdict{}, ctx.Err()
	case <-c.block:
		return sdk.Continue(), nil
	}
}

func TestOpenFailureAppliesOnError(t *testing.T) {
	p := New(nil, StageConfig{Name: "milter", Stage: &goStage{openErr: errors.New("connection refused")}, Timeout: time.Second, OnError: config.OnErrorTempfail})
	s := p.Open(context.Background(), sdk.Session{})
	if o := s.Connect(context.Background()); o.Reply == nil || o.Reply.Code != 451 {
		t.Fatalf("outcome %+v", o)
	}
}

func TestQuarantineAtRcptAppliesAtData(t *testing.T) {
	st := &goStage{hooks: map[sdk.Hook]bool{sdk.HookRcpt: true},
		onHook: func(sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) { return sdk.Quarantine("x"), nil }}
	p := New(nil, sc("q", st))
	s := p.Open(context.Background(), sdk.Session{})
	s.Mail(context.Background(), "a@b", nil)
	if _, o := s.Rcpt(context.Background(), sdk.Recipient{Addr: "c@d"}); !o.OK() {
		t.Fatal("rcpt refused")
	}
	if o := s.Data(context.Background(), ParseMessage([]byte(raw))); o.Action != sdk.ActionQuarantine {
		t.Fatalf("outcome %+v", o)
	}
	s.Reset(context.Background())
	if o := s.Data(context.Background(), ParseMessage([]byte(raw))); o.Action != sdk.ActionContinue {
		t.Fatalf("after reset %+v", o)
	}
}

func TestDiscardAtConnectAppliesToEveryMessage(t *testing.T) {
	st := &goStage{hooks: map[sdk.Hook]bool{sdk.HookConnect: true},
		onHook: func(sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) { return sdk.Discard("blocklisted"), nil }}
	p := New(nil, sc("d", st))
	s := p.Open(context.Background(), sdk.Session{})
	s.Connect(context.Background())
	for i := 0; i < 2; i++ {
		s.Mail(context.Background(), "a@b", nil)
		if o := s.Data(context.Background(), ParseMessage([]byte(raw))); o.Action != sdk.ActionDiscard {
			t.Fatalf("message %d: %+v", i+1, o)
		}
		s.Reset(context.Background())
	}
}

// authStage checks credentials at the auth hook.
type authStage struct{ goStage }

func (a *authStage) Open(context.Context, *sdk.Session) (Conn, error) { return a, nil }
func (a *authStage) Auth(_ context.Context, _ *sdk.Txn, ar *sdk.AuthArgs) (sdk.Verdict, error) {
	switch {
	case ar.User == "alice" && string(ar.Secret) == "s3cret":
		return sdk.Accept(), nil
	case ar.User == "alice":
		return sdk.Reject(535, "5.7.8", "bad password"), nil
	}
	return sdk.Continue(), nil
}

func TestAuthHook(t *testing.T) {
	st := &authStage{goStage{hooks: map[sdk.Hook]bool{sdk.HookAuth: true}}}
	p := New(nil, sc("ldap", st))
	s := p.Open(context.Background(), sdk.Session{})
	if o := s.Auth(context.Background(), "PLAIN", "alice", []byte("s3cret")); o.Action != sdk.ActionAccept {
		t.Fatalf("good password: %+v", o)
	}
	if o := s.Auth(context.Background(), "PLAIN", "alice", []byte("nope")); o.Reply == nil || o.Reply.String() != "535 5.7.8 bad password" {
		t.Fatalf("bad password: %+v", o)
	}
	if o := s.Auth(context.Background(), "PLAIN", "bob", []byte("x")); o.Action != sdk.ActionContinue || o.Reply != nil {
		t.Fatalf("unknown user must fall through: %+v", o)
	}
}

func TestUntouchedMessageIsNotCopied(t *testing.T) {
	in := []byte(raw)
	m := ParseMessage(in)
	if out := m.Bytes(); &out[0] != &in[0] {
		t.Fatal("an unedited message was re-rendered")
	}
	m.RemoveFields(func(string, string) bool { return false })
	if out := m.Bytes(); &out[0] != &in[0] {
		t.Fatal("removing nothing re-rendered the message")
	}
	m.Insert(0, "X-New", "1")
	if got := string(m.Bytes()); got != "X-New: 1\r\n"+raw {
		t.Fatalf("after an edit: %q", got)
	}
	// Without a CRLF blank line the rendering differs from the input, so
	// the input is never handed back as is.
	lf := ParseMessage([]byte("Subject: x\n\nbody"))
	if got := string(lf.Bytes()); got != "Subject: x\n\r\nbody" {
		t.Fatalf("LF separator: %q", got)
	}
}
