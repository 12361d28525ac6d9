package filter

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// rcptsAfter applies v's envelope edits to t's recipients and returns
// their addresses.
func rcptsAfter(t *sdk.Txn, v sdk.Verdict) []string {
	env := t.Envelope
	env.Rcpts = append([]sdk.Recipient(nil), env.Rcpts...)
	sdktest.ApplyEnvelope(&env, v.Edits)
	var out []string
	for _, r := range env.Rcpts {
		out = append(out, r.Addr)
	}
	return out
}

// A redirect rule (Postfix's REDIRECT) replaces every recipient of the
// message with its address at the data hook, whichever hook it is
// written at, as add_header's field is added there; a later rule still
// refuses; the address survives when it was a recipient already.
func TestRedirect(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"quarantine-box","hook":"mail","match":"@suspect\\.example$","action":"redirect","redirect":"review@sluice.test"},
		{"name":"invoices","hook":"header","header":"Subject","match":"(?i)invoice","action":"redirect","redirect":"accounts@sluice.test"},
		{"name":"zip","hook":"body","match":"PK-zip","action":"reject"}]}`)

	tx := txnFrom("192.0.2.7", "a@example.net", "b@sluice.test", "c@sluice.test", "B@sluice.test")
	v := h.Data(tx, []byte("Subject: Your invoice\r\n\r\nhello\r\n"))
	wantAction(t, "header rule", v, sdk.ActionContinue)
	if got := rcptsAfter(tx, v); len(got) != 1 || got[0] != "accounts@sluice.test" {
		t.Errorf("recipients after %v: %v, want only accounts@sluice.test", v.Edits, got)
	}
	if !strings.Contains(v.Reason, `rule "invoices" (redirect)`) || !strings.Contains(v.Reason, "recipients replaced by <accounts@sluice.test>") {
		t.Errorf("reason %q", v.Reason)
	}

	// At mail the rule only records; data redirects.
	tx = txnFrom("192.0.2.7", "x@suspect.example", "b@sluice.test", "review@sluice.test")
	v = h.Mail(tx)
	wantAction(t, "mail", v, sdk.ActionContinue)
	if len(v.Edits) != 0 || !strings.Contains(v.Reason, "(redirected at data)") {
		t.Errorf("mail: edits %v reason %q: want none and the rule noted", v.Edits, v.Reason)
	}
	v = h.Data(tx, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if got := rcptsAfter(tx, v); len(got) != 1 || got[0] != "review@sluice.test" {
		t.Errorf("recipients after %v: %v, want only review@sluice.test", v.Edits, got)
	}

	// Both match: the last one written wins, as in Postfix.
	v = h.Data(tx, []byte("Subject: invoice\r\n\r\nhello\r\n"))
	if got := rcptsAfter(tx, v); len(got) != 1 || got[0] != "accounts@sluice.test" {
		t.Errorf("recipients after %v: %v, want only accounts@sluice.test", v.Edits, got)
	}

	v = h.Data(tx, []byte("Subject: invoice\r\n\r\nPK-zip\r\n"))
	wantAction(t, "redirect then zip", v, sdk.ActionReject)

	v = h.Data(txnFrom("192.0.2.7", "a@example.net", "b@sluice.test"), []byte("Subject: hi\r\n\r\nhello\r\n"))
	if len(v.Edits) != 0 {
		t.Errorf("no rule matched, edits %v", v.Edits)
	}
}

func TestRedirectConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, rule, want string }{
		{"no address", `"action":"redirect"`, "redirect needs"},
		{"text", `"action":"redirect","redirect":"a@b.example","text":"no"`, "reject and tempfail only"},
		{"code", `"action":"redirect","redirect":"a@b.example","code":550`, "reject and tempfail only"},
		{"header_name", `"action":"redirect","redirect":"a@b.example","header_name":"X-A"`, "add_header only"},
		{"on reject", `"action":"reject","redirect":"a@b.example"`, "redirect action only"},
		{"no domain", `"action":"redirect","redirect":"postmaster"`, "local-part@domain"},
		{"two ats", `"action":"redirect","redirect":"a@b@c.example"`, "local-part@domain"},
		{"brackets", `"action":"redirect","redirect":"<a@b.example>"`, "bad domain"},
		{"bad domain", `"action":"redirect","redirect":"a@b..example"`, "bad domain"},
		// The filter once had its own, looser check: these passed it, and
		// the core then refused the edit for every message.
		{"underscore domain", `"action":"redirect","redirect":"a@mail_host.example"`, "bad domain"},
		{"hyphen label", `"action":"redirect","redirect":"a@-b.example"`, "bad domain"},
		{"empty atom", `"action":"redirect","redirect":"a..b@c.example"`, "empty atom"},
		{"comma", `"action":"redirect","redirect":"a,b@c.example"`, "outside quotes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := `{"rules":[{"name":"r","hook":"mail","match":"x",` + tc.rule + `}]}`
			_, err := sdktest.Start(t, &Plugin{}, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `rule "r"`) {
				t.Fatalf("err = %v, want one naming the rule and %q", err, tc.want)
			}
		})
	}
}

// The redirect address is checked with the core's rule for a recipient a
// stage adds (envelope.MailboxError): a quoted local part, which the core
// takes, is a valid redirect, and it is what the message goes to.
func TestRedirectQuotedLocalPart(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"box","hook":"mail","match":"@suspect\\.example$","action":"redirect","redirect":"\"review box\"@sluice.test"}]}`)
	tx := txnFrom("192.0.2.7", "x@suspect.example", "b@sluice.test")
	v := h.Data(tx, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if got := rcptsAfter(tx, v); len(got) != 1 || got[0] != `"review box"@sluice.test` {
		t.Errorf("recipients after %v: %v, want only \"review box\"@sluice.test", v.Edits, got)
	}
}
