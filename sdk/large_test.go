package sdk_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// upcaser replaces the body with its upper-case copy.
type upcaser struct{ sdk.Base }

func (upcaser) Data(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(sdk.ReplaceBody{Body: bytes.ToUpper(m.Body)}), nil
}

// bigBody is n bytes of CRLF-terminated lines.
func bigBody(n int) []byte {
	line := []byte("the quick brown fox jumps over the lazy dog 0123456789\r\n")
	b := bytes.Repeat(line, n/len(line)+1)
	return b[:n]
}

// A 50 MiB body goes to the plugin and a 50 MiB replacement comes back:
// both travel in chunks, far above gRPC's default 4 MiB message cap.
func TestLargeBodyReplaced(t *testing.T) {
	h := sdktest.New(t, upcaser{}, "")
	body := bigBody(50 << 20)
	m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "big"}}, Body: body}
	v, err := h.Client().Data(context.Background(), sdk.HookData, sdktest.NewTxn("a@example.org"), m, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Edits) != 1 {
		t.Fatalf("edits = %d, want 1", len(v.Edits))
	}
	got := v.Edits[0].(sdk.ReplaceBody).Body
	if !bytes.Equal(got, bytes.ToUpper(body)) {
		t.Errorf("replaced body: %d bytes, differs from the upper-cased %d bytes", len(got), len(body))
	}
}
