package sdktest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// pointerHooks has its hooks on *pointerHooks: served as a value, it
// declares none, the mistake README's "Write your own plugin" warns of.
type pointerHooks struct{ sdk.Base }

func (*pointerHooks) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Reject(550, "5.7.1", "no"), nil
}

// A test calling a hook the plugin did not declare gets continue, and its
// log says why: without it, the test's only clue was "got continue".
func TestHarnessNotesUndeclaredHook(t *testing.T) {
	rec := &recorder{TB: t}
	h := sdktest.New(rec, pointerHooks{}, "")
	v := h.Data(sdktest.NewTxn("a@example.org", "b@example.net"), []byte("Subject: x\r\n\r\nhi\r\n"))
	if v.Action != sdk.ActionContinue {
		t.Fatalf("action %v, want continue", v.Action)
	}
	want := "sdktest: the plugin did not declare the data hook (it declared []), so Sluice never calls it and this call answers continue: " +
		"is its method's signature sdk.DataHook's? methods on *T need &T{}, not T{}"
	if len(rec.logs) != 1 || rec.logs[0] != want {
		t.Fatalf("logs %q", rec.logs)
	}

	// Served as a pointer, it declares data and the log stays quiet.
	rec = &recorder{TB: t}
	h = sdktest.New(rec, &pointerHooks{}, "")
	if v := h.Data(sdktest.NewTxn("a@example.org"), []byte("Subject: x\r\n\r\nhi\r\n")); v.Action != sdk.ActionReject {
		t.Fatalf("action %v, want reject", v.Action)
	}
	if len(rec.logs) != 0 {
		t.Fatalf("logs %q", rec.logs)
	}
}

// A hook the plugin did not declare but a test calls on purpose (Rcpt
// here) is noted too, with what it did declare.
func TestHarnessNotesUndeclaredHookNamesDeclared(t *testing.T) {
	rec := &recorder{TB: t}
	h := sdktest.New(rec, &pointerHooks{}, "")
	h.Rcpt(sdktest.NewTxn("a@example.org"), "b@example.net")
	if len(rec.logs) != 1 || !strings.Contains(rec.logs[0], "did not declare the rcpt hook (it declared [data])") ||
		!strings.Contains(rec.logs[0], "sdk.RcptHook's") {
		t.Fatalf("logs %q", rec.logs)
	}
}
