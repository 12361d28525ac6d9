package route

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// batvTestConfig tags example.org's mail (not example.net's, also local)
// with Exim's vector secret (batvcodec_test.go); example.org is the SRS
// domain too. alice's mail goes out through a provider of its own.
const batvTestConfig = `{
  "batv": {"secrets": ["s3cret"], "domains": ["Example.ORG."]%s},
  "srs": {"domain": "example.org", "secrets": ["srs-secret"]},
  "aliases": {
    "info@example.org": ["alice@gmail.test", "bob@example.org"],
    "sales@example.org": ["bob@example.org"]
  },
  "rules": [
    {"match": "*", "sender": "alice@example.org", "transport": "smtp:[esp.test]:587"},
    {"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24", "recipients": ["alice", "bob"]},
    {"match": "*", "transport": "smtp:[relay.example.org]:25"}
  ]}`

// aliceTagged is alice@example.org tagged on eximDay, Exim's vector.
const aliceTagged = "prvs=07946b0a30=alice@example.org"

// batvHarness starts the stage with batvTestConfig (more added to its
// batv table), local_domains example.org and example.net, at time at.
func batvHarness(t *testing.T, at time.Time, more string) *sdktest.Harness {
	t.Helper()
	t.Setenv(EnvLocalDomains, "example.org,example.net")
	return sdktest.New(t, &Plugin{now: func() time.Time { return at }}, strings.Replace(batvTestConfig, "%s", more, 1))
}

// ownTxn is a transaction of a relay_networks client (relay), an AUTH
// client (auth), or a client from outside.
func ownTxn(who, from string, rcpts ...string) *sdk.Txn {
	txn := sdktest.NewTxn(from, rcpts...)
	switch who {
	case "relay":
		txn.Session.RelayClient = true
	case "auth":
		txn.Session.AuthUser = "alice"
	}
	return txn
}

// TestBATVTagsOwnMail: the sender of a relay or AUTH client's mail from
// one of batv.domains to another domain is tagged as Exim tags it, the
// domain lowercased; mail from outside, the null sender, mail to local
// domains only, a sender already tagged, one at a local domain not
// signing, and one SRS rewrites are not.
func TestBATVTagsOwnMail(t *testing.T) {
	h := batvHarness(t, eximDay, "")
	for _, tc := range []struct {
		who, from string
		rcpts     []string
		want      string
	}{
		{"relay", "alice@example.org", []string{"dave@remote.test"}, aliceTagged},
		{"auth", "alice@Example.ORG", []string{"dave@remote.test"}, aliceTagged},
		{"relay", "alice@example.org", []string{"bob@example.org", "dave@remote.test"}, aliceTagged},
		// An alias sends it on to gmail.test.
		{"relay", "alice@example.org", []string{"info@example.org"}, aliceTagged},
		{"outside", "alice@example.org", []string{"info@example.org"}, "alice@example.org"},
		{"relay", "", []string{"dave@remote.test"}, ""},
		{"relay", "alice@example.org", []string{"sales@example.org", "carol@example.net"}, "alice@example.org"},
		{"relay", aliceTagged, []string{"dave@remote.test"}, aliceTagged},
		{"relay", "carol@example.net", []string{"dave@remote.test"}, "carol@example.net"},
		{"relay", "carol@origin.test", []string{"info@example.org"}, "SRS0="},
	} {
		txn := ownTxn(tc.who, tc.from, tc.rcpts...)
		v := h.Data(txn, []byte("From: x@y.test\r\nSubject: x\r\n\r\nx\r\n"))
		sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
		if got := txn.Envelope.MailFrom; got != tc.want && !(strings.HasSuffix(tc.want, "=") && strings.HasPrefix(got, tc.want)) {
			t.Errorf("%s client, <%s> to %v: sender <%s>, want <%s> (%s)", tc.who, tc.from, tc.rcpts, got, tc.want, v.Reason)
		}
		if tc.want == aliceTagged && tc.from != aliceTagged && !strings.Contains(v.Reason, "route: BATV: sender <"+tc.from+"> → <"+aliceTagged+">") {
			t.Errorf("reason %q", v.Reason)
		}
	}
}

// TestBATVChecksTagsAtRcpt: a good tag is routed as the address it
// stands for, an alias expanded at DATA; a forged one is refused with
// 550 5.7.1 whoever sends, an expired one in a bounce only; a tagged
// address at a local domain that does not sign is no tag of ours.
func TestBATVChecksTagsAtRcpt(t *testing.T) {
	h := batvHarness(t, eximDay.AddDate(0, 0, 7), "")
	v := h.Rcpt(sdktest.NewTxn(""), aliceTagged)
	if v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "route: "+aliceTagged+" → alice@example.org via lmtp:") {
		t.Errorf("good tag: %v %v (%s)", v.Action, v.Reply, v.Reason)
	}
	env, _ := dataEnvelope(t, h, "", aliceTagged)
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "alice@example.org" || env.Rcpts[0].Route != "lmtp:tcp:127.0.0.1:24" {
		t.Errorf("at DATA: %+v", env.Rcpts)
	}
	info := batvCodecAt(eximDay, "s3cret").sign("info@example.org")
	env, _ = dataEnvelope(t, h, "", info)
	if len(env.Rcpts) != 2 || env.Rcpts[0].Addr != "alice@gmail.test" || env.Rcpts[1].Addr != "bob@example.org" {
		t.Errorf("tagged alias: %+v", env.Rcpts)
	}
	for name, rcpt := range map[string]string{
		"forged":  batvCodecAt(eximDay, "guessed").sign("alice@example.org"),
		"garbled": "prvs=07946b0a3=alice@example.org",
	} {
		for _, from := range []string{"", "carol@origin.test"} {
			v := h.Rcpt(sdktest.NewTxn(from), rcpt)
			if v.Action != sdk.ActionReject || v.Reply.Code != 550 || v.Reply.Enhanced != "5.7.1" || !strings.Contains(v.Reply.Text, "invalid bounce address tag") {
				t.Errorf("%s tag from <%s>: %v %v", name, from, v.Action, v.Reply)
			}
		}
	}
	h = batvHarness(t, eximDay.AddDate(0, 0, 8), "")
	if v := h.Rcpt(sdktest.NewTxn(""), aliceTagged); v.Action != sdk.ActionReject || v.Reply.Enhanced != "5.7.1" || !strings.Contains(v.Reply.Text, errBATVExpired.Error()) {
		t.Errorf("expired tag: %v %v", v.Action, v.Reply)
	}
	// A reply with a sender to the expired tag is not a bounce: the user
	// gets it, at RCPT and at DATA.
	if v := h.Rcpt(sdktest.NewTxn("dave@remote.test"), aliceTagged); v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "→ alice@example.org via lmtp:") {
		t.Errorf("late reply to an expired tag: %v %v (%s)", v.Action, v.Reply, v.Reason)
	}
	if env, _ := dataEnvelope(t, h, "dave@remote.test", aliceTagged); len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "alice@example.org" {
		t.Errorf("late reply at DATA: %+v", env.Rcpts)
	}
	// example.net does not sign: the address goes on as any other.
	if v := h.Rcpt(sdktest.NewTxn(""), "prvs=07946b0a30=carol@example.net"); v.Action != sdk.ActionContinue {
		t.Errorf("example.net: %v %v", v.Action, v.Reply)
	}
}

// TestBATVRejectUntagged: with reject_untagged, a bounce from outside to
// an untagged address of a signing domain is refused; to postmaster, to
// an SRS address, to a domain that does not sign, from a relay client,
// or with a sender, it goes on; without it, every one goes on.
func TestBATVRejectUntagged(t *testing.T) {
	srsAddr := "SRS0=" + srsHashOf("srs-secret", stamp(eximDay), "origin.test", "carol") + "=" + stamp(eximDay) + "=origin.test=carol@example.org"
	for _, on := range []bool{true, false} {
		more := ""
		if on {
			more = `, "reject_untagged": true`
		}
		h := batvHarness(t, eximDay, more)
		for _, tc := range []struct {
			who, from, rcpt string
			refused         bool
		}{
			{"outside", "", "alice@example.org", true},
			{"outside", "", "info@example.org", true},
			{"outside", "", aliceTagged, false},
			{"outside", "", "PostMaster@example.org", false},
			{"outside", "", srsAddr, false},
			{"outside", "", "carol@example.net", false},
			{"relay", "", "alice@example.org", false},
			{"auth", "", "alice@example.org", false},
			{"outside", "carol@origin.test", "alice@example.org", false},
		} {
			v := h.Rcpt(ownTxn(tc.who, tc.from), tc.rcpt)
			refused := v.Action == sdk.ActionReject && v.Reply.Code == 550 && v.Reply.Enhanced == "5.7.1"
			if refused != (on && tc.refused) {
				t.Errorf("reject_untagged %v: %s client, <%s> to %s: %v %v", on, tc.who, tc.from, tc.rcpt, v.Action, v.Reply)
			}
		}
	}
}

// TestBATVQueuedMail: a sender rule matches the tagged sender of queued
// mail as the address it stands for, as at reception; a report Sluice
// makes to a tagged sender goes to the address it stands for, To field
// too, however old the tag; a queued one keeps its route at delivery.
func TestBATVQueuedMail(t *testing.T) {
	h := batvHarness(t, eximDay.AddDate(0, 0, 30), "")
	v := h.Deliver(sdktest.NewTxn(aliceTagged), sdk.Recipient{Addr: "dave@remote.test", Route: "smtp:relay.example.org:25"})
	if got := routeOf(v, "dave@remote.test"); got != "smtp:esp.test:587" {
		t.Errorf("deliver: route %q, want alice's provider (%v, %s)", got, v.Edits, v.Reason)
	}
	env, m, v := bounced(t, h, aliceTagged)
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "alice@example.org" || env.Rcpts[0].Route != "lmtp:tcp:127.0.0.1:24" || m.Get("To") != "<alice@example.org>" {
		t.Errorf("report: %+v, To %q (%s)", env.Rcpts, m.Get("To"), v.Reason)
	}
	if v := h.Deliver(sdktest.NewTxn("", aliceTagged), sdk.Recipient{Addr: aliceTagged}); len(v.Edits) != 0 {
		t.Errorf("queued report: %v", v.Edits)
	}
}

// TestBATVReportToForgedTagDropped: a report Sluice makes for a client's
// mail whose sender carries a tag of ours that does not check out
// (forged, garbled) is dropped, the reason naming the address and the
// fault, as a report to a bad SRS address is; it used to go by MX to this
// host, where RCPT refuses the tag. A tag at a domain that does not sign
// is no tag of ours: its report goes on.
func TestBATVReportToForgedTagDropped(t *testing.T) {
	h := batvHarness(t, eximDay, "")
	for name, tc := range map[string]struct{ rcpt, err string }{
		"forged":  {"prvs=0123abcdef=alice@example.org", errBATVHash.Error()},
		"guessed": {batvCodecAt(eximDay, "guessed").sign("alice@example.org"), errBATVHash.Error()},
		"garbled": {"prvs=07946b0a3=alice@example.org", errBATVForm.Error()},
	} {
		_, _, v := bounced(t, h, tc.rcpt)
		if v.Action != sdk.ActionReject || !strings.Contains(v.Reply.Text, tc.err) || !strings.Contains(v.Reason, "route: BATV: "+tc.rcpt) {
			t.Errorf("%s: %v %+v (%s), want the report dropped: %s", name, v.Action, v.Reply, v.Reason, tc.err)
		}
	}
	const other = "prvs=0123abcdef=carol@example.net"
	if env, _, v := bounced(t, h, other); v.Action != sdk.ActionContinue || len(env.Rcpts) != 1 || env.Rcpts[0].Addr != other {
		t.Errorf("example.net: %v %+v (%s)", v.Action, env.Rcpts, v.Reason)
	}
}

// TestBATVSecretsFile: batv.secrets_file is read as srs.secrets_file:
// the first line signs, the others still verify.
func TestBATVSecretsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "batv.secrets")
	if err := os.WriteFile(path, []byte("n3w\ns3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLocalDomains, "example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return eximDay }}, `{"batv": {"secrets_file": "`+path+`"}}`)
	if v := h.Rcpt(sdktest.NewTxn(""), aliceTagged); v.Action != sdk.ActionContinue {
		t.Errorf("the old secret's tag: %v %v", v.Action, v.Reply)
	}
	txn := ownTxn("relay", "alice@example.org", "dave@remote.test")
	sdktest.ApplyEnvelope(&txn.Envelope, h.Data(txn, []byte("Subject: x\r\n\r\nx\r\n")).Edits)
	if want := batvCodecAt(eximDay, "n3w").sign("alice@example.org"); txn.Envelope.MailFrom != want {
		t.Errorf("sender <%s>, want <%s>", txn.Envelope.MailFrom, want)
	}
}

// TestBATVConfigErrors: each mistake in [stage.config.batv] is a
// ConfigError naming its key, for check-config's line.
func TestBATVConfigErrors(t *testing.T) {
	t.Setenv(EnvLocalDomains, "example.org")
	for _, tc := range []struct{ batv, key, text string }{
		{`{"secrets": ["s"], "domains": ["example.net"]}`, "batv.domains", "not one of local_domains"},
		{`{"secrets": ["s"], "domains": ["exa mple.org"]}`, "batv.domains", "not a domain"},
		{`{}`, "batv.secrets", "want secrets"},
		{`{"secrets": ["s3cret", ""]}`, "batv.secrets", "an empty secret"},
		{`{"secrets": ["s"], "secrets_file": "x"}`, "batv.secrets_file", "not both"},
		{`{"secrets_file": "/nonexistent/batv"}`, "batv.secrets_file", "no such file"},
		{`{"secrets": ["s"], "max_age_days": 1000}`, "batv.max_age_days", "want 1 to 999"},
		{`{"secrets": ["s"], "max_age_days": -1}`, "batv.max_age_days", "want 1 to 999"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, `{"batv": `+tc.batv+`}`)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != tc.key || !strings.Contains(ce.Msg, tc.text) || strings.Contains(ce.Msg, "s3cret") {
			t.Errorf("batv %s: %v; want a ConfigError naming %s, saying %q", tc.batv, err, tc.key, tc.text)
		}
	}
	os.Unsetenv(EnvLocalDomains)
	if _, err := sdktest.Start(t, &Plugin{}, `{"batv": {"secrets": ["s"]}}`); err == nil || !strings.Contains(err.Error(), EnvLocalDomains) {
		t.Errorf("without %s: %v", EnvLocalDomains, err)
	}
}
