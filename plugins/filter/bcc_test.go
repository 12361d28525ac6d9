package filter

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// bccConfig has a bcc rule at mail, one at rcpt and two header ones, one
// naming the mail rule's address again, then a refusing body rule and a
// quarantining one.
const bccConfig = `{"rules":[
	{"name":"watch-sender","hook":"mail","match":"@watch\\.example$","action":"bcc","bcc":"archive@sluice.test"},
	{"name":"watch-rcpt","hook":"rcpt","match":"^ceo@","action":"bcc","bcc":"audit@sluice.test"},
	{"name":"invoices","hook":"header","header":"Subject","match":"(?i)invoice","action":"bcc","bcc":"accounts@sluice.test"},
	{"name":"invoices-too","hook":"header","header":"Subject","match":"(?i)invoice","action":"bcc","bcc":"ARCHIVE@sluice.test"},
	{"name":"zip","hook":"body","match":"PK-zip","action":"reject"},
	{"name":"hold","hook":"body","match":"HOLD-ME","action":"quarantine"}]}`

// addedRcpts is the AddRecipient edits of v, each as "addr NOTIFY=...".
func addedRcpts(v sdk.Verdict) []string {
	var out []string
	for _, e := range v.Edits {
		if a, ok := e.(sdk.AddRecipient); ok {
			out = append(out, a.Addr+" NOTIFY="+a.Params["NOTIFY"])
		}
	}
	return out
}

// A bcc rule (Postfix's BCC) adds its address as one more recipient at
// data, with NOTIFY=NEVER, whichever hook it is written at; the other
// recipients and the header stay as they are.
func TestBcc(t *testing.T) {
	h := serve(t, nil, bccConfig)
	msg := []byte("Subject: Your invoice\r\n\r\nhello\r\n")

	tx := txnFrom("192.0.2.7", "a@example.net", "b@sluice.test", "c@sluice.test")
	v := h.Data(tx, msg)
	wantAction(t, "header rule", v, sdk.ActionContinue)
	if got, want := addedRcpts(v), []string{"accounts@sluice.test NOTIFY=NEVER", "ARCHIVE@sluice.test NOTIFY=NEVER"}; !slices.Equal(got, want) {
		t.Errorf("added %v, want %v", got, want)
	}
	if len(v.Edits) != 2 {
		t.Errorf("edits %v: want the two recipients added, nothing else (no header)", v.Edits)
	}
	if got, want := rcptsAfter(tx, v), []string{"b@sluice.test", "c@sluice.test", "accounts@sluice.test", "ARCHIVE@sluice.test"}; !slices.Equal(got, want) {
		t.Errorf("recipients after: %v, want %v", got, want)
	}
	if !strings.Contains(v.Reason, `rule "invoices" (bcc)`) || !strings.Contains(v.Reason, "(copy to <accounts@sluice.test>, NOTIFY=NEVER)") {
		t.Errorf("reason %q", v.Reason)
	}

	// At mail and rcpt the rules only record; data adds.
	tx = txnFrom("192.0.2.7", "x@watch.example", "b@sluice.test", "ceo@sluice.test")
	for _, v := range []sdk.Verdict{h.Mail(tx), h.Rcpt(tx, "ceo@sluice.test")} {
		wantAction(t, "before data", v, sdk.ActionContinue)
		if len(v.Edits) != 0 || !strings.Contains(v.Reason, "(copied at data)") {
			t.Errorf("edits %v reason %q: want none and the rule noted", v.Edits, v.Reason)
		}
	}
	v = h.Data(tx, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if got, want := addedRcpts(v), []string{"archive@sluice.test NOTIFY=NEVER", "audit@sluice.test NOTIFY=NEVER"}; !slices.Equal(got, want) {
		t.Errorf("mail and rcpt rules: added %v, want %v", got, want)
	}

	// Three rules name two addresses: each is added once, whatever its case.
	v = h.Data(tx, msg)
	if got, want := addedRcpts(v), []string{"archive@sluice.test NOTIFY=NEVER", "audit@sluice.test NOTIFY=NEVER", "accounts@sluice.test NOTIFY=NEVER"}; !slices.Equal(got, want) {
		t.Errorf("all rules: added %v, want %v", got, want)
	}

	// An address that is a recipient already is not added again.
	tx = txnFrom("192.0.2.7", "a@example.net", "Accounts@sluice.test")
	v = h.Data(tx, msg)
	if got, want := addedRcpts(v), []string{"ARCHIVE@sluice.test NOTIFY=NEVER"}; !slices.Equal(got, want) {
		t.Errorf("accounts a recipient: added %v, want %v", got, want)
	}
	if !strings.Contains(v.Reason, "(<accounts@sluice.test> already a recipient: no copy added)") {
		t.Errorf("reason %q", v.Reason)
	}

	// A later rule still decides: a refused message has no edits, a
	// quarantined one is held with the copy among its recipients.
	tx = txnFrom("192.0.2.7", "a@example.net", "b@sluice.test")
	v = h.Data(tx, []byte("Subject: invoice\r\n\r\nPK-zip\r\n"))
	wantAction(t, "bcc then zip", v, sdk.ActionReject)
	if len(v.Edits) != 0 {
		t.Errorf("refused: edits %v", v.Edits)
	}
	v = h.Data(tx, []byte("Subject: invoice\r\n\r\nHOLD-ME\r\n"))
	wantAction(t, "bcc then hold", v, sdk.ActionQuarantine)
	if got, want := rcptsAfter(tx, v), []string{"b@sluice.test", "accounts@sluice.test", "ARCHIVE@sluice.test"}; !slices.Equal(got, want) {
		t.Errorf("quarantined: recipients after %v, want %v", got, want)
	}

	v = h.Data(txnFrom("192.0.2.7", "a@example.net", "b@sluice.test"), []byte("Subject: hi\r\n\r\nhello\r\n"))
	if len(v.Edits) != 0 {
		t.Errorf("no rule matched, edits %v", v.Edits)
	}
}

// With a redirect, the bcc copy is added to the redirect's address; an
// address the redirect removed is added back as the copy, and the
// redirect's own address is not added twice.
func TestBccAfterRedirect(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"box","hook":"header","header":"Subject","match":"suspect","action":"redirect","redirect":"review@sluice.test"},
		{"name":"keep","hook":"header","header":"Subject","match":"suspect","action":"bcc","bcc":"b@sluice.test"},
		{"name":"again","hook":"header","header":"Subject","match":"suspect","action":"bcc","bcc":"Review@sluice.test"}]}`)
	tx := txnFrom("192.0.2.7", "a@example.net", "b@sluice.test", "c@sluice.test")
	v := h.Data(tx, []byte("Subject: suspect\r\n\r\nhello\r\n"))
	if got, want := rcptsAfter(tx, v), []string{"review@sluice.test", "b@sluice.test"}; !slices.Equal(got, want) {
		t.Errorf("recipients after %v: %v, want %v", v.Edits, got, want)
	}
	if !strings.Contains(v.Reason, "(<Review@sluice.test> already a recipient: no copy added)") {
		t.Errorf("reason %q", v.Reason)
	}
}

func TestBccConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, rule, want string }{
		{"no address", `"action":"bcc"`, "bcc needs"},
		{"no domain", `"action":"bcc","bcc":"archive"`, "local-part@domain"},
		{"bad domain", `"action":"bcc","bcc":"a@b..example"`, "bad domain"},
		{"brackets", `"action":"bcc","bcc":"<a@b.example>"`, "bad domain"},
		{"on reject", `"action":"reject","bcc":"a@b.example"`, "bcc action only"},
		{"on redirect", `"action":"redirect","redirect":"a@b.example","bcc":"c@b.example"`, "bcc action only"},
		{"redirect key", `"action":"bcc","bcc":"a@b.example","redirect":"c@b.example"`, "redirect action only"},
		{"text", `"action":"bcc","bcc":"a@b.example","text":"no"`, "reject and tempfail only"},
		{"header_name", `"action":"bcc","bcc":"a@b.example","header_name":"X-A"`, "add_header only"},
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
