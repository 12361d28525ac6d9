package sdktest

import (
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

func TestApplyEdits(t *testing.T) {
	raw := []byte("Received: a\r\nSubject: one\r\nX-Old: x\r\nSubject: two\r\n\r\nbody\r\n")
	v := sdk.Continue(
		sdk.AddHeader{Name: "X-Added", Value: "1"},
		sdk.InsertHeader{Index: 0, Name: "X-Top", Value: "t"},
		sdk.InsertHeader{Index: 99, Name: "X-End", Value: "e"},
		sdk.ChangeHeader{Name: "subject", Occurrence: 2, Value: "TWO"},
		sdk.ChangeHeader{Name: "X-Missing", Occurrence: 1, Value: "appended"},
		sdk.DeleteHeader{Name: "X-Old", Occurrence: 1},
		sdk.DeleteHeader{Name: "X-Old", Occurrence: 1}, // gone already: no-op
		sdk.ReplaceBody{Body: []byte("new\r\n")},
		sdk.SetSender{Addr: "ignored@example.org"},
	)
	got := string(Apply(t, raw, v))
	want := "X-Top: t\r\nReceived: a\r\nSubject: one\r\nSubject: TWO\r\nX-Added: 1\r\nX-End: e\r\nX-Missing: appended\r\n\r\nnew\r\n"
	if got != want {
		t.Errorf("Apply =\n%q\nwant\n%q", got, want)
	}
}

func TestApplyEnvelope(t *testing.T) {
	env := NewTxn("a@example.org", "b@example.org", "c@example.org").Envelope
	ApplyEnvelope(&env, []sdk.Edit{
		sdk.SetSender{Addr: "bounce@example.org", Params: map[string]string{"RET": "HDRS"}},
		sdk.RemoveRecipient{Addr: "B@example.org"},
		sdk.AddRecipient{Addr: "d@example.org"},
		sdk.SetRoute{Rcpt: "d@example.org", Route: "lmtp:127.0.0.1:24"},
		sdk.AddHeader{Name: "X-Ignored", Value: "1"},
	})
	want := sdk.Envelope{
		MailFrom: "bounce@example.org", MailParams: map[string]string{"RET": "HDRS"},
		Rcpts: []sdk.Recipient{{Addr: "c@example.org"}, {Addr: "d@example.org", Route: "lmtp:127.0.0.1:24"}},
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("envelope = %+v, want %+v", env, want)
	}
}
