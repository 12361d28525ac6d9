package sdk_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

func TestInitDeclaresEveryHook(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, `{"k":"v"}`)
	want := sdk.Info{Hooks: sdk.AllHooks, NeedsBody: true, Name: "full", Version: "1.2.3"}
	if got := h.Info(); !reflect.DeepEqual(got, want) {
		t.Errorf("Info = %+v, want %+v", got, want)
	}
	if p.cfg.Stage != sdktest.Stage || string(p.cfg.JSON) != `{"k":"v"}` {
		t.Errorf("Configure got %+v", p.cfg)
	}
}

func TestEnvelopeHooksRoundTrip(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	txn := fullTxn()
	rcpt := &sdk.Recipient{Addr: "dave@example.org", Route: "r", Params: map[string]string{"ORCPT": "rfc822;dave@example.org"}}
	auth := &sdk.AuthArgs{Mech: "PLAIN", User: "alice", Secret: []byte("s3cret\x00")}
	for _, hook := range []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookAuth, sdk.HookMail, sdk.HookRcpt, sdk.HookDeliver} {
		for _, a := range allActions {
			want := fullVerdict(a, false)
			p.answer(want)
			got, err := h.Client().Hook(context.Background(), hook, txn, rcpt, auth)
			if err != nil {
				t.Fatalf("%s/%v: %v", hook, a, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s/%v: verdict\n got %+v\nwant %+v", hook, a, got, want)
			}
			c := p.lastCall()
			if c.Hook != hook || !reflect.DeepEqual(c.Txn, *txn) {
				t.Errorf("%s: plugin saw %s %+v, want %+v", hook, c.Hook, c.Txn, *txn)
			}
			if (hook == sdk.HookRcpt || hook == sdk.HookDeliver) && !reflect.DeepEqual(c.Rcpt, *rcpt) {
				t.Errorf("%s: plugin saw recipient %+v, want %+v", hook, c.Rcpt, *rcpt)
			}
			if hook == sdk.HookAuth && !reflect.DeepEqual(c.Auth, *auth) {
				t.Errorf("auth: plugin saw %+v, want %+v", c.Auth, *auth)
			}
		}
	}
}

func TestDataRoundTripEveryEdit(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	txn := fullTxn()
	m := &sdk.Message{
		Headers: []sdk.Header{
			// Raw, where the core sets it, crosses the wire byte for byte;
			// a field without it (an edited one) arrives without it.
			{Name: "Subject", Value: "one", Raw: []byte("Subject:one")}, {Name: "X-Old", Value: "x"},
			{Name: "Subject", Value: "two,\r\n folded", Raw: []byte("Subject:\ttwo,\r\n folded")}, {Name: "Empty", Value: ""},
		},
		Body: []byte("line 1\r\nline 2\r\n"),
	}
	m.BodySize = int64(len(m.Body))
	for _, hook := range []sdk.Hook{sdk.HookData, sdk.HookBounce} {
		for _, a := range allActions {
			want := fullVerdict(a, true)
			p.answer(want)
			got, err := h.Client().Data(context.Background(), hook, txn, m, true)
			if err != nil {
				t.Fatalf("%s/%v: %v", hook, a, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s/%v: verdict\n got %+v\nwant %+v", hook, a, got, want)
			}
			c := p.lastCall()
			if c.Hook != hook || !reflect.DeepEqual(c.Txn, *txn) || !reflect.DeepEqual(c.Message, m) {
				t.Errorf("%s: plugin saw %s %+v %+v", hook, c.Hook, c.Txn, c.Message)
			}
		}
	}
}

func TestDataWithoutBody(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "hi"}}, Body: []byte("secret body"), BodySize: 11}
	if _, err := h.Client().Data(context.Background(), sdk.HookData, fullTxn(), m, false); err != nil {
		t.Fatal(err)
	}
	got := p.lastCall().Message
	if got.Body != nil || got.BodySize != 11 || !reflect.DeepEqual(got.Headers, m.Headers) {
		t.Errorf("plugin saw %+v, want headers only and BodySize 11", got)
	}
}

func TestReplaceWithEmptyBody(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	p.answer(sdk.Continue(sdk.ReplaceBody{}))
	v := h.Data(sdktest.NewTxn("a@example.org"), []byte("Subject: x\n\nbody\n"))
	if len(v.Edits) != 1 {
		t.Fatalf("edits = %v", v.Edits)
	}
	rb, ok := v.Edits[0].(sdk.ReplaceBody)
	if !ok || rb.Body == nil || len(rb.Body) != 0 {
		t.Errorf("edit = %#v, want ReplaceBody with an empty, non-nil body", v.Edits[0])
	}
}

// headersOnly reads headers only; its data hook must get no body.
type headersOnly struct {
	sdk.Base
	sawBody chan []byte
}

func (headersOnly) HeadersOnly() bool { return true }

func (p headersOnly) Data(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	p.sawBody <- m.Body
	return sdk.Continue(sdk.AddHeader{Name: "X-Size", Value: "seen"}), nil
}

func TestHeadersOnlyPlugin(t *testing.T) {
	p := headersOnly{sawBody: make(chan []byte, 1)}
	h := sdktest.New(t, p, "")
	if h.Info().NeedsBody {
		t.Error("NeedsBody = true for a HeadersOnly plugin")
	}
	if !reflect.DeepEqual(h.Info().Hooks, []sdk.Hook{sdk.HookData}) {
		t.Errorf("Hooks = %v", h.Info().Hooks)
	}
	raw := []byte("Subject: hi\r\n\r\nthe body\r\n")
	v := h.Data(sdktest.NewTxn("a@example.org", "b@example.org"), raw)
	if b := <-p.sawBody; b != nil {
		t.Errorf("plugin got body %q", b)
	}
	out := sdktest.Apply(t, raw, v)
	if want := []byte("Subject: hi\r\nX-Size: seen\r\n\r\nthe body\r\n"); !bytes.Equal(out, want) {
		t.Errorf("message = %q, want %q", out, want)
	}
}

// rcptOnly implements one hook.
type rcptOnly struct{ sdk.Base }

func (rcptOnly) Rcpt(context.Context, *sdk.Txn, sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Reject(550, "5.1.1", "no such user"), nil
}

func TestUndeclaredHooks(t *testing.T) {
	h := sdktest.New(t, rcptOnly{}, "")
	if got := h.Info().Hooks; !reflect.DeepEqual(got, []sdk.Hook{sdk.HookRcpt}) {
		t.Fatalf("Hooks = %v, want [rcpt]", got)
	}
	txn := sdktest.NewTxn("a@example.org")
	if v := h.Rcpt(txn, "x@example.org"); v.Action != sdk.ActionReject || v.Reply.Code != 550 {
		t.Errorf("rcpt = %+v", v)
	}
	// The core never calls undeclared hooks; if one is called anyway it
	// answers Continue.
	if v := h.Connect(txn.Session); !reflect.DeepEqual(v, sdk.Verdict{}) {
		t.Errorf("connect = %+v, want Continue", v)
	}
	if v := h.Data(txn, []byte("Subject: x\r\n\r\nbody\r\n")); !reflect.DeepEqual(v, sdk.Verdict{}) {
		t.Errorf("data = %+v, want Continue", v)
	}
}
