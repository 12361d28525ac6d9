package sdktest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// noShouting is the plugin under test, README's "Write your own plugin":
// it refuses a Subject in capitals and tags every other message.
type noShouting struct{ sdk.Base }

func (noShouting) HeadersOnly() bool { return true }

func (noShouting) Data(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	s := m.Get("Subject")
	if len(s) > 10 && s == strings.ToUpper(s) {
		return sdk.Reject(550, "5.7.1", "Please do not shout"), nil
	}
	return sdk.Continue(sdk.AddHeader{Name: "X-Shouting", Value: "no"}), nil
}

// Example runs a plugin through a scripted session, over the same gRPC
// protocol the core uses, and checks what it declared, its verdicts and
// the message its edits make. In a test, hand sdktest.New the test's t;
// an Example has none, so this one uses a stand-in (exampleT, below).
func Example() {
	t := &exampleT{}
	defer t.cleanup()

	h := sdktest.New(t, noShouting{}, `{}`)
	fmt.Println("declares:", h.Info().Hooks)

	txn := sdktest.NewTxn("alice@example.org", "bob@example.net")
	fmt.Println("mail:", h.Mail(txn).Action) // not declared: answers continue

	v := h.Data(txn, []byte("Subject: BUY NOW OR ELSE\r\n\r\nhi\r\n"))
	fmt.Println("shouting:", v.Action, v.Reply.Code, v.Reply.Enhanced, v.Reply.Text)

	raw := []byte("Subject: hello\r\n\r\nhi\r\n")
	v = h.Data(txn, raw)
	fmt.Printf("calm: %s, becomes %q\n", v.Action, sdktest.Apply(t, raw, v))
	// Output:
	// declares: [data]
	// mail: continue
	// shouting: reject 550 5.7.1 Please do not shout
	// calm: continue, becomes "Subject: hello\r\nX-Shouting: no\r\n\r\nhi\r\n"
}

// exampleT stands in for a test's *testing.T in Example: it runs the
// harness's cleanups at the end and panics where a test would fail. The
// testing.TB methods the harness does not call are left nil.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (*exampleT) Helper()                        {}
func (t *exampleT) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (*exampleT) Fatal(args ...any)              { panic(fmt.Sprint(args...)) }
func (*exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (*exampleT) Errorf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (*exampleT) Logf(string, ...any)            {}

func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
