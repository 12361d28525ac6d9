package route

import (
	"fmt"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestDeliverAppliesTheRulesToQueuedMail: at the deliver hook a queued
// recipient gets the transport of the rule that matches it now when it
// differs from the route it carries (a mailbox server moved, and
// Sluice reloaded), as Postfix's transport_maps apply at the next try; a
// rule now reject fails it with its reply, one now discard drops it. No
// alias is expanded again and no recipients list asked: mallory@ is not
// in example.org's, and team@ is an alias, yet both are only routed.
func TestDeliverAppliesTheRulesToQueuedMail(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, testConfig)
	for _, tc := range []struct {
		rcpt, route string
		action      sdk.Action
		want        string // the route set, "" for none
		reply       string
	}{
		{"alice@example.org", "lmtp:tcp:10.0.0.1:24", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"alice@example.org", "lmtp:unix:/run/dovecot/lmtp", sdk.ActionContinue, "", ""},
		{"mallory@example.org", "mx", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"team@example.org", "mx", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"anyone@lists.example.org", "lmtp:inet:127.0.0.1", sdk.ActionContinue, "", ""}, // the same route, written otherwise
		{"other@partner.test", "smtp:relay.partner.test:25", sdk.ActionContinue, "smtp:relay.partner.test:25?tls=required", ""},
		{"someone@elsewhere.test", "lmtp:tcp:10.0.0.1:24", sdk.ActionContinue, "mx", ""}, // match "*", transport mx
		{"someone@elsewhere.test", "mx", sdk.ActionContinue, "", ""},
		{"someone@elsewhere.test", "", sdk.ActionContinue, "", ""},
		{"trap-2@example.org", "lmtp:unix:/run/dovecot/lmtp", sdk.ActionContinue, "discard", ""},
		{"x@old.example.org", "mx", sdk.ActionReject, "", "550 5.1.6"},
	} {
		v := h.Deliver(sdktest.NewTxn("s@origin.test"), sdk.Recipient{Addr: tc.rcpt, Route: tc.route})
		got := routeOf(v, tc.rcpt)
		if v.Action != tc.action || got != tc.want || len(v.Edits) > 1 {
			t.Errorf("%s by %q: %v edits %v, want %v route %q (%s)", tc.rcpt, tc.route, v.Action, v.Edits, tc.action, tc.want, v.Reason)
		}
		if tc.reply != "" && (v.Reply == nil || fmt.Sprintf("%d %s", v.Reply.Code, v.Reply.Enhanced) != tc.reply) {
			t.Errorf("%s: reply %v, want %s", tc.rcpt, v.Reply, tc.reply)
		}
	}
	// A recipient no rule matches keeps whatever route it carries.
	h = sdktest.New(t, &Plugin{}, `{"rules": [{"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24"}]}`)
	if v := h.Deliver(sdktest.NewTxn("s@origin.test"), sdk.Recipient{Addr: "a@elsewhere.test", Route: "smtp:10.0.0.1:25"}); !v.PlainContinue() {
		t.Errorf("a recipient no rule matches: %+v", v)
	}
}

// TestDeliverLeavesAnotherStagesRoute: a recipient whose route another
// stage set (the core says so with RouteSetByOther) is that stage's: the
// rule that matches it now neither rejects it, nor discards it, nor moves
// it to its transport; the same recipient carrying its own route is.
func TestDeliverLeavesAnotherStagesRoute(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, testConfig)
	const quarantine = "smtp:quarantine.internal:25"
	for _, addr := range []string{"x@old.example.org", "trap-2@example.org", "alice@example.org"} {
		v := h.Deliver(sdktest.NewTxn("s@origin.test"), sdk.Recipient{Addr: addr, Route: quarantine, RouteSetByOther: true})
		if !v.PlainContinue() {
			t.Errorf("%s, routed by another stage: %v edits %v reply %v (%s), want a plain continue", addr, v.Action, v.Edits, v.Reply, v.Reason)
		}
		if v := h.Deliver(sdktest.NewTxn("s@origin.test"), sdk.Recipient{Addr: addr, Route: quarantine}); v.PlainContinue() {
			t.Errorf("%s, by nobody's route: a plain continue, want the rule applied", addr)
		}
	}
}
