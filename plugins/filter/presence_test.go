package filter

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestMissingAndDuplicateHeaderRules: the checks of Haraka's data.headers
// (missing_required, duplicate_singular) written as header rules.
func TestMissingAndDuplicateHeaderRules(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"no-date","hook":"header","header":"Date","missing":true,"action":"reject","text":"Date header required"},
		{"name":"no-from","hook":"header","header":"from","missing":true,"action":"reject"},
		{"name":"dup","hook":"header","duplicate":true,"action":"reject","code":552,"enhanced":"5.6.0"},
		{"name":"dup-received","hook":"header","header":"X-Once","duplicate":true,"action":"quarantine"}
	]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	const date = "Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n"
	wantAction(t, "complete", h.Data(tx, []byte(date+"From: a@example.org\r\nSubject: hi\r\nReceived: x\r\nReceived: y\r\n\r\nhi\r\n")), sdk.ActionContinue)
	v := h.Data(tx, []byte("From: a@example.org\r\n\r\nhi\r\n"))
	wantAction(t, "no Date", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.1", "Date header required")
	wantAction(t, "no From", h.Data(tx, []byte(date+"Subject: hi\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "From in other case", h.Data(tx, []byte(date+"FROM: a@example.org\r\n\r\nhi\r\n")), sdk.ActionContinue)
	v = h.Data(tx, []byte(date+"From: a@example.org\r\nSubject: one\r\nsubject: two\r\n\r\nhi\r\n"))
	wantAction(t, "two Subjects", v, sdk.ActionReject)
	wantReply(t, v, 552, "5.6.0", "Message refused by policy")
	wantAction(t, "two From", h.Data(tx, []byte(date+"From: a@example.org\r\nFrom: b@example.org\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "two named", h.Data(tx, []byte(date+"From: a@example.org\r\nX-Once: 1\r\nX-Once: 2\r\n\r\nhi\r\n")), sdk.ActionQuarantine)
}

func TestPresenceRuleConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"missing without header", `{"rules":[{"hook":"header","missing":true,"action":"reject"}]}`, "missing needs header"},
		{"missing with match", `{"rules":[{"hook":"header","header":"Date","missing":true,"match":"x","action":"reject"}]}`, "do not apply"},
		{"duplicate with rhsbl", `{"rules":[{"hook":"header","header":"From","duplicate":true,"rhsbl":["dbl.example"],"action":"reject"}]}`, "do not apply"},
		{"both", `{"rules":[{"hook":"header","header":"Date","missing":true,"duplicate":true,"action":"reject"}]}`, "two rules"},
		{"missing on mail", `{"rules":[{"hook":"mail","match":"x","missing":true,"action":"reject"}]}`, "header rules only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
