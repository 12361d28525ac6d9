package filter

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestEnvelopeRule: Haraka's bounce single_recipient as a rule, a null
// sender to two or more recipients refused for the whole message.
func TestEnvelopeRule(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"bounce-one-rcpt","hook":"envelope","match":"^$","min_recipients":2,"action":"reject","text":"A bounce has one recipient"},
		{"name":"wide","hook":"envelope","min_recipients":50,"action":"add_header","header_name":"X-Wide"}
	]}`)
	msg := []byte("Subject: x\r\n\r\nhi\r\n")
	wantAction(t, "bounce to one", h.Data(sdktest.NewTxn("", "a@example.org"), msg), sdk.ActionContinue)
	v := h.Data(sdktest.NewTxn("", "a@example.org", "b@example.org"), msg)
	wantAction(t, "bounce to two", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.1", "A bounce has one recipient")
	wantAction(t, "sender to two", h.Data(sdktest.NewTxn("s@example.net", "a@example.org", "b@example.org"), msg), sdk.ActionContinue)
	var rcpts []string
	for i := 0; i < 50; i++ {
		rcpts = append(rcpts, "u"+strings.Repeat("x", i)+"@example.org")
	}
	v = h.Data(sdktest.NewTxn("s@example.net", rcpts...), msg)
	wantAction(t, "fifty", v, sdk.ActionContinue)
	if len(v.Edits) != 1 {
		t.Fatalf("fifty recipients: edits %+v, want the X-Wide field", v.Edits)
	}
}

func TestEnvelopeRuleConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"no min_recipients", `{"rules":[{"hook":"envelope","match":"^$","action":"reject"}]}`, "needs min_recipients"},
		{"min_recipients on rcpt", `{"rules":[{"hook":"rcpt","match":"x","min_recipients":2,"action":"reject"}]}`, "envelope rules only"},
		{"rhsbl on envelope", `{"rules":[{"hook":"envelope","min_recipients":2,"rhsbl":["dbl.example"],"action":"reject"}]}`, "rhsbl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
