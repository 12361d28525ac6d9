package route

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// senderConfig routes by sender before the rule for everyone else, as
// Postfix's sender_dependent_relayhost_maps would: brand-a's mail to
// anywhere through one provider, brand-b's subdomains through another.
const senderConfig = `{
  "detail_separator": "+",
  "aliases": {"team@example.org": ["alice@example.org", "carol@partner.test"]},
  "rules": [
    {"match": "*", "sender": "Brand-A.example.", "transport": "smtp:esp-a.test:587"},
    {"match": "*", "sender": "*.brand-b.example", "transport": "smtp:esp-b.test:587"},
    {"match": "vip@partner.test", "sender": "ceo@example.org", "transport": "smtp:vip.test:25"},
    {"match": "partner.test", "sender": "/^billing-/", "transport": "reject", "reply": "550 5.7.1 Billing does not write to partners"},
    {"match": "*", "sender": "<>", "transport": "smtp:bounces.test:25"},
    {"match": "trash.test", "sender": "spam.example", "transport": "discard"},
    {"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24"},
    {"match": "*", "transport": "smtp:default.test:25"}
  ]}`

// TestSenderRules: a rule with a sender applies to mail whose envelope
// sender matches it, in the forms a match takes (case, trailing dot and
// +detail ignored), "<>" the null sender's; other mail goes on to the
// next rules.
func TestSenderRules(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, senderConfig)
	for _, tc := range []struct {
		from, rcpt string
		action     sdk.Action
		route      string
	}{
		{"news@brand-a.example", "x@anywhere.test", sdk.ActionContinue, "smtp:esp-a.test:587"},
		{"News+Tag@BRAND-A.example.", "alice@example.org", sdk.ActionContinue, "smtp:esp-a.test:587"},
		{"news@sub.brand-a.example", "x@anywhere.test", sdk.ActionContinue, "smtp:default.test:25"},
		{"news@mail.brand-b.example", "x@anywhere.test", sdk.ActionContinue, "smtp:esp-b.test:587"},
		{"news@brand-b.example", "x@anywhere.test", sdk.ActionContinue, "smtp:default.test:25"},
		{"ceo+x@example.org", "vip@partner.test", sdk.ActionContinue, "smtp:vip.test:25"},
		{"ceo@example.org", "other@partner.test", sdk.ActionContinue, "smtp:default.test:25"},
		{"billing-7@example.org", "bob@partner.test", sdk.ActionReject, ""},
		{"billing-7@example.org", "bob@elsewhere.test", sdk.ActionContinue, "smtp:default.test:25"},
		{"", "x@anywhere.test", sdk.ActionContinue, "smtp:bounces.test:25"},
		{"a@spam.example", "x@trash.test", sdk.ActionContinue, "discard"},
		{"a@other.example", "x@trash.test", sdk.ActionContinue, "smtp:default.test:25"},
		{"a@other.example", "alice@example.org", sdk.ActionContinue, "lmtp:tcp:127.0.0.1:24"},
	} {
		v := h.Rcpt(sdktest.NewTxn(tc.from), tc.rcpt)
		if v.Action != tc.action || routeOf(v, tc.rcpt) != tc.route {
			t.Errorf("<%s> to %s: %v route %q, want %v route %q (%s)", tc.from, tc.rcpt, v.Action, routeOf(v, tc.rcpt), tc.action, tc.route, v.Reason)
		}
		if tc.action == sdk.ActionReject && (v.Reply == nil || v.Reply.Enhanced != "5.7.1") {
			t.Errorf("<%s> to %s: reply %+v, want the rule's", tc.from, tc.rcpt, v.Reply)
		}
	}
	// An alias's targets are routed by the rules for the message's
	// sender at DATA, too.
	for from, want := range map[string]string{"news@brand-a.example": "smtp:esp-a.test:587", "a@other.example": "smtp:default.test:25"} {
		txn := sdktest.NewTxn(from, "team@example.org")
		v := h.Data(txn, []byte("Subject: x\r\n\r\nx\r\n"))
		if got := routeOf(v, "carol@partner.test"); got != want {
			t.Errorf("alias target of mail from <%s>: route %q, want %q (edits %v)", from, got, want, v.Edits)
		}
	}
	// A report is from the null sender.
	if v := h.Bounce(sdktest.NewTxn("", "x@anywhere.test"), []byte("Subject: x\r\n\r\nx\r\n")); routeOf(v, "x@anywhere.test") != "smtp:bounces.test:25" {
		t.Errorf("a report: edits %v, want the <> rule's route", v.Edits)
	}
}

// TestSenderRulesAtDeliver: the deliver hook applies a sender rule with
// the stored envelope sender, as the rules applied at reception.
func TestSenderRulesAtDeliver(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, senderConfig)
	for _, tc := range []struct {
		from, rcpt, route string
		action            sdk.Action
		want              string
	}{
		{"news@brand-a.example", "x@anywhere.test", "smtp:default.test:25", sdk.ActionContinue, "smtp:esp-a.test:587"},
		{"news@brand-a.example", "x@anywhere.test", "smtp:esp-a.test:587", sdk.ActionContinue, ""},
		{"a@other.example", "x@anywhere.test", "smtp:esp-a.test:587", sdk.ActionContinue, "smtp:default.test:25"},
		{"", "x@anywhere.test", "", sdk.ActionContinue, "smtp:bounces.test:25"},
		{"a@spam.example", "x@trash.test", "smtp:default.test:25", sdk.ActionContinue, "discard"},
		{"billing-1@example.org", "bob@partner.test", "smtp:default.test:25", sdk.ActionReject, ""},
	} {
		v := h.Deliver(sdktest.NewTxn(tc.from), sdk.Recipient{Addr: tc.rcpt, Route: tc.route})
		if got := routeOf(v, tc.rcpt); v.Action != tc.action || got != tc.want {
			t.Errorf("<%s> to %s by %q: %v route %q, want %v route %q (%s)", tc.from, tc.rcpt, tc.route, v.Action, got, tc.action, tc.want, v.Reason)
		}
	}
}

// TestSenderRuleProbe: a sender rule's probe asks its server for mail of
// its senders only; the rule after it decides for the others.
func TestSenderRuleProbe(t *testing.T) {
	sock := startLMTP(t, "alice@example.org")
	h := sdktest.New(t, &Plugin{}, `{"rules": [
		{"match": "example.org", "sender": "brand-a.example", "transport": "lmtp:unix:`+sock+`", "probe": true},
		{"match": "example.org", "transport": "smtp:default.test:25"}]}`)
	if v := h.Rcpt(sdktest.NewTxn("a@brand-a.example"), "nobody@example.org"); v.Action != sdk.ActionReject || v.Reply.Enhanced != "5.1.1" {
		t.Errorf("brand-a's mail to an unknown user: %v %+v, want 550 5.1.1 from the probe", v.Action, v.Reply)
	}
	if v := h.Rcpt(sdktest.NewTxn("a@brand-a.example"), "alice@example.org"); v.Action != sdk.ActionContinue || routeOf(v, "alice@example.org") != "lmtp:unix:"+sock {
		t.Errorf("brand-a's mail to alice: %v %s", v.Action, v.Reason)
	}
	if v := h.Rcpt(sdktest.NewTxn("a@other.example"), "nobody@example.org"); v.Action != sdk.ActionContinue || routeOf(v, "nobody@example.org") != "smtp:default.test:25" {
		t.Errorf("other mail: %v route %q (%s), want the second rule, unprobed", v.Action, routeOf(v, "nobody@example.org"), v.Reason)
	}
}

// TestSenderRuleHiddenByAnEarlierOne: a rule hides a later one when it
// takes every recipient and every sender the later one would; a rule
// without a sender takes every sender, a sender rule does not.
func TestSenderRuleHiddenByAnEarlierOne(t *testing.T) {
	type r struct{ match, sender string }
	cfg := func(a, b r) string {
		return fmt.Sprintf(`{"detail_separator":"+","rules":[{"match":%q,"sender":%q,"transport":"mx"},{"match":%q,"sender":%q,"transport":"discard"}]}`,
			a.match, a.sender, b.match, b.sender)
	}
	for _, tc := range [][2]r{
		{{"*", ""}, {"*", "brand-a.example"}},
		{{"example.org", ""}, {"alice@example.org", "x.test"}},
		{{"*", "brand-a.example"}, {"example.org", "news@brand-a.example"}},
		{{"*", "a@brand-a.example"}, {"*", "a+b@brand-a.example"}},
		{{"*", "*.brand.example"}, {"*", "mail.brand.example"}},
		{{"*", "*"}, {"*", "<>"}},
		{{"*", "<>"}, {"example.org", "<>"}},
		{{"*", "*"}, {"x.test", "/^a/"}},
		{{"*", "Brand-A.example."}, {"*", "brand-a.example"}},
	} {
		_, err := sdktest.Start(t, &Plugin{}, cfg(tc[0], tc[1]))
		if err == nil || !strings.Contains(err.Error(), "rule 2") || !strings.Contains(err.Error(), "can never match") {
			t.Errorf("%v then %v: err = %v", tc[0], tc[1], err)
		}
	}
	for _, tc := range [][2]r{
		{{"*", "brand-a.example"}, {"*", ""}},
		{{"*", "brand-a.example"}, {"*", "brand-b.example"}},
		{{"*", "brand-a.example"}, {"*", "<>"}},
		{{"*", "<>"}, {"*", "x.test"}},
		{{"*", "*.brand-a.example"}, {"*", "brand-a.example"}},
		{{"*", "/^a@/"}, {"*", "a@x.test"}},
		{{"example.org", "x.test"}, {"alice@example.org", ""}},
		{{"alice@example.org", "x.test"}, {"example.org", "x.test"}},
	} {
		if _, err := sdktest.Start(t, &Plugin{}, cfg(tc[0], tc[1])); err != nil {
			t.Errorf("%v then %v: %v", tc[0], tc[1], err)
		}
	}
	_, err := sdktest.Start(t, &Plugin{}, cfg(r{"*", ""}, r{"*", "brand-a.example"}))
	if err == nil || !strings.Contains(err.Error(), `rule 2 ("*", sender "brand-a.example")`) {
		t.Errorf("the error does not name the hidden rule's sender: %v", err)
	}
}

// TestSenderThatCanMatchNothingIsAnError: a sender is checked as a match
// is.
func TestSenderThatCanMatchNothingIsAnError(t *testing.T) {
	for _, s := range []string{"@example.org", "alice@", "*@example.org", "a..example", "/(/", "exa mple.org", "<alice@example.org>"} {
		_, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "*", "sender": "`+s+`", "transport": "mx"}]}`)
		if err == nil {
			t.Errorf("sender %q accepted", s)
		}
	}
}
