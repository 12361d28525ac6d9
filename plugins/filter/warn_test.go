package filter

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// logLines collects the JSON records a plugin logs.
type logLines = testlib.LogLines

// warnPlugin is a filter whose log goes to the returned lines, as JSON
// records, the form the core reads a plugin's stderr in.
func warnPlugin(r Resolver) (*Plugin, *logLines) {
	lines := &logLines{}
	return &Plugin{Resolver: r, log: slog.New(slog.NewJSONHandler(lines, nil))}, lines
}

// wantWarned checks that exactly one warn line was logged, for rule at
// hook, with the fields given.
func wantWarned(t *testing.T, what string, recs []map[string]any, fields map[string]string) {
	t.Helper()
	if len(recs) != 1 {
		t.Fatalf("%s: %d log lines %v, want one", what, len(recs), recs)
	}
	rec := recs[0]
	if rec["msg"] != "filter: warn rule matched" || rec["level"] != "INFO" {
		t.Errorf("%s: line %v", what, rec)
	}
	for k, want := range fields {
		if got, _ := rec[k].(string); !strings.Contains(got, want) {
			t.Errorf("%s: %s = %q, want it to hold %q (line %v)", what, k, got, want, rec)
		}
	}
}

// TestWarnRuleLogsAndGoesOn: Postfix's header_checks WARN. A warn rule's
// match is logged with the rule, the hook, what matched and the session
// and queue ids, given in the verdict's reason (the trace), and lets the
// mail through; the rules after it are still evaluated, so that a reject
// rule after a warn rule still rejects.
func TestWarnRuleLogsAndGoesOn(t *testing.T) {
	p, lines := warnPlugin(nil)
	h := serve(t, p, `{"rules":[
		{"name":"try-spam","hook":"mail","match":"@spam\\.","action":"warn"},
		{"name":"spam-sender","hook":"mail","match":"@spam\\.example$","action":"reject"},
		{"name":"try-rcpt","hook":"rcpt","match":"^sales@","action":"warn"},
		{"name":"try-subject","hook":"header","header":"Subject","match":"(?i)viagra","action":"warn"},
		{"name":"pills","hook":"body","match":"(?i)cheap pills","action":"reject"}
	]}`)

	v := h.Mail(txnFrom("198.51.100.7", "a@spam.test"))
	wantAction(t, "only the warn rule matches", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, `rule "try-spam" (warn): sender "a@spam.test" matches @spam\.`) {
		t.Errorf("reason %q should name the warn rule and what it matched", v.Reason)
	}
	wantWarned(t, "mail", lines.Take(t), map[string]string{"rule": "try-spam", "hook": "mail",
		"why": `sender "a@spam.test" matches @spam\.`, "session": sdktest.DefaultSession.ID, "client": "198.51.100.7"})

	v = h.Mail(txnFrom("198.51.100.7", "a@spam.example"))
	wantAction(t, "a reject rule after a warn rule", v, sdk.ActionReject)
	if !strings.Contains(v.Reason, `rule "try-spam" (warn)`) || !strings.Contains(v.Reason, `rule "spam-sender" (reject)`) {
		t.Errorf("reason %q should name both rules", v.Reason)
	}
	wantWarned(t, "mail, then rejected", lines.Take(t), map[string]string{"rule": "try-spam"})

	wantAction(t, "clean sender", h.Mail(txnFrom("198.51.100.7", "a@example.net")), sdk.ActionContinue)
	if recs := lines.Take(t); len(recs) != 0 {
		t.Errorf("nothing matched, yet logged %v", recs)
	}

	v = h.Rcpt(txnFrom("198.51.100.7", "a@example.net"), "sales@example.org")
	wantAction(t, "rcpt", v, sdk.ActionContinue)
	wantWarned(t, "rcpt", lines.Take(t), map[string]string{"rule": "try-rcpt", "hook": "rcpt", "rcpt": "sales@example.org"})

	tx := txnFrom("198.51.100.7", "a@spam.test", "sales@example.org")
	tx.Envelope.QueueID = "33P6Q55V2F01QH2HYW00"
	v = h.Data(tx, []byte("Subject: Viagra\r\n\r\nhi\r\n"))
	wantAction(t, "data", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, `rule "try-subject" (warn): Subject "Viagra" matches`) {
		t.Errorf("reason %q", v.Reason)
	}
	if len(v.Edits) != 0 {
		t.Errorf("a warn rule edits nothing: %v", v.Edits)
	}
	// Only the data rule's line: the earlier hooks' warn rules were
	// logged at their hook.
	wantWarned(t, "data", lines.Take(t), map[string]string{"rule": "try-subject", "hook": "header",
		"id": "33P6Q55V2F01QH2HYW00", "session": sdktest.DefaultSession.ID})

	v = h.Data(tx, []byte("Subject: Viagra\r\n\r\ncheap pills\r\n"))
	wantAction(t, "a body reject rule after a header warn rule", v, sdk.ActionReject)
	wantWarned(t, "data, then rejected", lines.Take(t), map[string]string{"rule": "try-subject"})
}

// TestWarnRuleReplayedAtData: a mail hook's warn rule before an
// add_header rule is evaluated again at data with it (the add_header
// rule's field is added there), but neither logged nor given in the
// reason again.
func TestWarnRuleReplayedAtData(t *testing.T) {
	p, lines := warnPlugin(nil)
	h := serve(t, p, `{"rules":[
		{"name":"try-spam","hook":"mail","match":"@spam\\.","action":"warn"},
		{"name":"tag","hook":"mail","match":"@spam\\.","action":"add_header","header_name":"X-Spam-Sender"}
	]}`)
	tx := txnFrom("198.51.100.7", "a@spam.test", "b@example.org")
	wantAction(t, "mail", h.Mail(tx), sdk.ActionContinue)
	wantWarned(t, "mail", lines.Take(t), map[string]string{"rule": "try-spam"})
	v := h.Data(tx, []byte("Subject: x\r\n\r\nhi\r\n"))
	wantAction(t, "data", v, sdk.ActionContinue)
	if len(v.Edits) != 1 {
		t.Errorf("edits %v, want the add_header rule's field", v.Edits)
	}
	if strings.Contains(v.Reason, "try-spam") {
		t.Errorf("reason %q gives the mail hook's warn rule again", v.Reason)
	}
	if recs := lines.Take(t); len(recs) != 0 {
		t.Errorf("data logged the mail hook's warn rule again: %v", recs)
	}
}

// TestWarnRuleOnEveryCondition: a warn rule takes any condition a
// refusing rule does — a DNS list's listing, an unknown domain, an
// attachment, the envelope, and a message past the MIME walk's limits,
// which a reject rule would refuse — and only logs it.
func TestWarnRuleOnEveryCondition(t *testing.T) {
	_, lists := loopbackLists(t)
	p, lines := warnPlugin(lists)
	h := serve(t, p, `{"rules":[
		{"name":"try-bl","hook":"connect","dnsbl":["bl.example"],"action":"warn"},
		{"name":"try-exe","hook":"attachment","mime_types":["application/x-msdownload"],"action":"warn"},
		{"name":"try-fanout","hook":"envelope","min_recipients":3,"action":"warn"}
	]}`)
	wantAction(t, "listed client", h.Connect(txnFrom("192.0.2.99", "").Session), sdk.ActionContinue)
	wantWarned(t, "dnsbl", lines.Take(t), map[string]string{"rule": "try-bl", "hook": "connect", "why": "192.0.2.99 listed in bl.example"})

	tx := sdktest.NewTxn("a@example.org", "b@example.org", "c@example.org", "d@example.org")
	exe := "Content-Type: application/x-msdownload; name=evil.exe\r\n\r\nMZ"
	wantAction(t, "attachment", h.Data(tx, []byte(multipartMsg("b", textPart, exe))), sdk.ActionContinue)
	recs := lines.Take(t)
	if len(recs) != 2 || recs[0]["rule"] != "try-exe" || recs[1]["rule"] != "try-fanout" {
		t.Errorf("lines %v, want try-exe's then try-fanout's", recs)
	}
	one := sdktest.NewTxn("a@example.org", "b@example.org")
	wantAction(t, "past the nesting limit", h.Data(one, []byte(nested(maxMIMEDepth+5, textPart))), sdk.ActionContinue)
	wantWarned(t, "past the nesting limit", lines.Take(t), map[string]string{"rule": "try-exe", "why": "not inspected further"})

	d := testlib.NewDNS(t, "mx.example. 60 IN MX 10 mail.mx.example.", "mail.mx.example. 60 IN A 192.0.2.25")
	r, err := dnsresolve.New([]string{d.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, lines = warnPlugin(r)
	h = serve(t, p, `{"rules":[{"name":"try-unknown","hook":"mail","unknown_domain":true,"action":"warn"}]}`)
	wantAction(t, "known domain", h.Mail(txnFrom("198.51.100.1", "a@mx.example")), sdk.ActionContinue)
	if recs := lines.Take(t); len(recs) != 0 {
		t.Errorf("a known domain logged %v", recs)
	}
	wantAction(t, "unknown domain", h.Mail(txnFrom("198.51.100.1", "a@nowhere.example")), sdk.ActionContinue)
	wantWarned(t, "unknown domain", lines.Take(t), map[string]string{"rule": "try-unknown", "why": "nowhere.example"})
}

// TestWarnRuleTakesNoReply: a warn rule answers nothing, so a reply key
// on one is a configuration error, as on discard.
func TestWarnRuleTakesNoReply(t *testing.T) {
	for _, cfg := range []string{
		`{"rules":[{"hook":"mail","match":"x","action":"warn","text":"no"}]}`,
		`{"rules":[{"hook":"mail","match":"x","action":"warn","code":550}]}`,
		`{"rules":[{"hook":"mail","match":"x","action":"warn","enhanced":"5.7.1"}]}`,
		`{"rules":[{"hook":"mail","match":"x","action":"warn","header_name":"X-Spam"}]}`,
	} {
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err == nil || !strings.Contains(err.Error(), "only") {
			t.Errorf("%s: err = %v, want a configuration error", cfg, err)
		}
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"rules":[{"hook":"mail","match":"x","action":"warn"}]}`); err != nil {
		t.Errorf("a plain warn rule: %v", err)
	}
}
