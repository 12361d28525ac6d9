package filter

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// authed is txn as a session that authenticated as user.
func authed(t *sdk.Txn, user string) *sdk.Txn {
	t.Session.AuthUser = user
	return t
}

// TestAuthenticatedCondition: a pass rule on authenticated = true is
// Postfix's permit_sasl_authenticated, sparing the site's users an
// anti-spoofing rule after it; authenticated = false narrows a rule to
// strangers; and a data-hook rule takes it too.
func TestAuthenticatedCondition(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"users","hook":"mail","authenticated":true,"action":"pass"},
		{"name":"spoof","hook":"mail","match":"@example\\.org$","action":"reject","text":"Not from outside"},
		{"name":"strangers-to-net","hook":"rcpt","match":"@example\\.net$","authenticated":false,"action":"reject"},
		{"name":"users-wide","hook":"envelope","min_recipients":3,"authenticated":true,"action":"tempfail"}
	]}`)
	v := h.Mail(authed(txnFrom("198.51.100.7", "alice@example.org"), "alice"))
	wantAction(t, "user, own domain", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, `rule "users" (pass): session authenticated`) {
		t.Errorf("reason %q does not name the pass rule and the session", v.Reason)
	}
	v = h.Mail(txnFrom("198.51.100.7", "alice@example.org"))
	wantAction(t, "stranger, own domain", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.1", "Not from outside")
	wantAction(t, "stranger, other domain", h.Mail(txnFrom("198.51.100.7", "bob@example.com")), sdk.ActionContinue)

	wantAction(t, "stranger to .net", h.Rcpt(txnFrom("198.51.100.7", "bob@example.com"), "c@example.net"), sdk.ActionReject)
	wantAction(t, "user to .net", h.Rcpt(authed(txnFrom("198.51.100.7", "alice@example.org"), "alice"), "c@example.net"), sdk.ActionContinue)

	msg := []byte("Subject: x\r\n\r\nhi\r\n")
	three := []string{"a@example.com", "b@example.com", "c@example.com"}
	wantAction(t, "user to three", h.Data(authed(sdktest.NewTxn("alice@example.org", three...), "alice"), msg), sdk.ActionTempfail)
	wantAction(t, "stranger to three", h.Data(sdktest.NewTxn("bob@example.com", three...), msg), sdk.ActionContinue)
	wantAction(t, "user to two", h.Data(authed(sdktest.NewTxn("alice@example.org", three[:2]...), "alice"), msg), sdk.ActionContinue)
}

// TestAuthenticatedConfigErrors: a connect or helo hook never sees AUTH,
// and an access rule's table is its whole condition.
func TestAuthenticatedConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"connect", `{"rules":[{"hook":"connect","authenticated":true,"action":"pass"}]}`, "authenticated does not apply to a connect rule"},
		{"helo with a match", `{"rules":[{"hook":"helo","match":"x","authenticated":false,"action":"reject"}]}`, "authenticated does not apply to a helo rule"},
		{"access", `{"rules":[{"hook":"mail","access":"cidr:/nonexistent","authenticated":true}]}`, "access takes no match, dnsbl, rhsbl, networks, unknown_domain or authenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
