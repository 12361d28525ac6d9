package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestPanicIsAnError(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	c, txn := h.Client(), fullTxn()
	m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "x"}}, Body: []byte("b\r\n")}

	p.setPanic(true)
	_, err := c.Hook(context.Background(), sdk.HookMail, txn, nil, nil)
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "boom in mail") {
		t.Errorf("mail after panic: err = %v, want Internal with the panic", err)
	}
	_, err = c.Data(context.Background(), sdk.HookData, txn, m, true)
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "boom in data") {
		t.Errorf("data after panic: err = %v, want Internal with the panic", err)
	}

	// The plugin keeps serving.
	p.answer(sdk.Accept())
	if v, err := c.Hook(context.Background(), sdk.HookMail, txn, nil, nil); err != nil || v.Action != sdk.ActionAccept {
		t.Errorf("mail after recovery = %+v, %v", v, err)
	}
}

func TestHookErrorIsAnError(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	p.setFail(true)
	_, err := h.Client().Hook(context.Background(), sdk.HookRcpt, fullTxn(), &sdk.Recipient{Addr: "b@example.org"}, nil)
	if err == nil || !strings.Contains(err.Error(), "lookup failed") {
		t.Errorf("err = %v, want the plugin's error", err)
	}
}

// badConfig refuses its config.
type badConfig struct{ sdk.Base }

func (badConfig) Configure(_ context.Context, cfg sdk.Config) error {
	var c struct {
		Name string `json:"name"`
	}
	return cfg.Decode(&c)
}

func (badConfig) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) { return sdk.Continue(), nil }

func TestConfigureError(t *testing.T) {
	_, err := sdktest.Start(t, badConfig{}, `{"nmae":"typo"}`)
	if err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("Init err = %v, want the unknown key", err)
	}
}

func TestHookBeforeInitAndInitTwice(t *testing.T) {
	c := sdktest.Connect(t, badConfig{})
	_, err := c.Hook(context.Background(), sdk.HookMail, fullTxn(), nil, nil)
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("hook before Init: err = %v, want FailedPrecondition", err)
	}
	if _, err := c.Init(context.Background(), "s", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Init(context.Background(), "s", []byte(`{}`)); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("second Init: err = %v, want FailedPrecondition", err)
	}
}

// The plugin's verdicts that cannot go on the wire are errors, not
// silently mangled verdicts.
func TestBadVerdicts(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	c, txn := h.Client(), fullTxn()
	m := &sdk.Message{Body: []byte("b")}
	cases := []struct {
		name string
		v    sdk.Verdict
		data bool
		want string
	}{
		{"unknown action", sdk.Verdict{Action: 42}, false, "unknown action"},
		{"nil edit", sdk.Continue(nil), false, "nil edit"},
		{"nil pointer edit", sdk.Continue((*sdk.AddHeader)(nil)), false, "nil"},
		{"negative code", sdk.Reject(-1, "", ""), false, "out of range"},
		{"body at rcpt", sdk.Continue(sdk.ReplaceBody{Body: []byte("x")}), false, "ReplaceBody"},
		{"two bodies", sdk.Continue(sdk.ReplaceBody{}, sdk.ReplaceBody{}), true, "more than one ReplaceBody"},
		{"negative index", sdk.Continue(sdk.InsertHeader{Index: -1}), true, "out of range"},
	}
	for _, tc := range cases {
		p.answer(tc.v)
		var err error
		if tc.data {
			_, err = c.Data(context.Background(), sdk.HookData, txn, m, true)
		} else {
			_, err = c.Hook(context.Background(), sdk.HookRcpt, txn, &sdk.Recipient{Addr: "b@example.org"}, nil)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPointerEditsAreAccepted(t *testing.T) {
	p := &fullPlugin{}
	h := sdktest.New(t, p, "")
	p.answer(sdk.Continue(&sdk.AddHeader{Name: "X-P", Value: "1"}, &sdk.ReplaceBody{Body: []byte("new")}))
	v := h.Data(fullTxn(), []byte("Subject: s\r\n\r\nold\r\n"))
	want := []sdk.Edit{sdk.AddHeader{Name: "X-P", Value: "1"}, sdk.ReplaceBody{Body: []byte("new")}}
	if !reflect.DeepEqual(v.Edits, want) {
		t.Errorf("edits = %#v, want %#v", v.Edits, want)
	}
}

func TestClientRefusesBadCalls(t *testing.T) {
	h := sdktest.New(t, &fullPlugin{}, "")
	c, txn := h.Client(), fullTxn()
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["data via Hook"] = c.Hook(ctx, sdk.HookData, txn, nil, nil)
	_, checks["rcpt without recipient"] = c.Hook(ctx, sdk.HookRcpt, txn, nil, nil)
	_, checks["auth without credentials"] = c.Hook(ctx, sdk.HookAuth, txn, nil, nil)
	_, checks["unknown hook"] = c.Hook(ctx, sdk.Hook("quit"), txn, nil, nil)
	_, checks["nil txn"] = c.Hook(ctx, sdk.HookMail, nil, nil, nil)
	_, checks["mail via Data"] = c.Data(ctx, sdk.HookMail, txn, &sdk.Message{}, true)
	_, checks["nil message"] = c.Data(ctx, sdk.HookData, txn, nil, true)
	huge := &sdk.Message{Headers: []sdk.Header{{Name: "X-Huge", Value: strings.Repeat("a", sdk.MaxFrameSize)}}}
	_, checks["huge header section"] = c.Data(ctx, sdk.HookData, txn, huge, true)
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestContextCancelled(t *testing.T) {
	h := sdktest.New(t, &fullPlugin{}, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Client().Data(ctx, sdk.HookData, fullTxn(), &sdk.Message{Body: []byte("x")}, true)
	if status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want Canceled", err)
	}
}
