package route

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// srsTestConfig forwards info@example.org to a remote mailbox and to a
// local one, and team@ to local ones alone; example.org's users are
// delivered by LMTP, brand.test's mail goes out through its provider, the
// rest through a relay. The SRS vectors are refTime's (srscodec_test.go).
const srsTestConfig = `{
  "srs": {"domain": "Example.ORG.", "secrets": ["s3cret", "old"], "exclude_domains": ["partner.test", ".trusted.test"]%s},
  "aliases": {
    "info@example.org": ["alice@gmail.test", "bob@example.org"],
    "team@example.org": ["bob@example.org", "carol@example.net"]
  },
  "rules": [
    {"match": "*", "sender": "brand.test", "transport": "smtp:[esp.brand.test]:587"},
    {"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24", "recipients": ["bob"]},
    {"match": "example.net", "transport": "lmtp:tcp:127.0.0.1:24"},
    {"match": "*", "transport": "smtp:[relay.example.org]:25"}
  ]}`

// srsHarness starts the stage with srsTestConfig (more added to its srs
// table), local_domains example.org and example.net, at time at.
func srsHarness(t *testing.T, at time.Time, more string) *sdktest.Harness {
	t.Helper()
	t.Setenv(EnvLocalDomains, "example.org,example.net")
	return sdktest.New(t, &Plugin{now: func() time.Time { return at }}, strings.Replace(srsTestConfig, "%s", more, 1))
}

// dataEnvelope runs the data hook over a message from from to rcpts and
// returns the envelope it leaves and the verdict.
func dataEnvelope(t *testing.T, h *sdktest.Harness, from string, rcpts ...string) (sdk.Envelope, sdk.Verdict) {
	t.Helper()
	txn := sdktest.NewTxn(from, rcpts...)
	v := h.Data(txn, []byte("From: x@y.test\r\nSubject: x\r\n\r\nx\r\n"))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	return txn.Envelope, v
}

// TestSRSForwardsAliasedMail: mail an alias sends on to another domain
// leaves with an SRS sender, Mail::SRS's address for it; the message is
// rewritten whole, its local recipient included. Mail that stays here,
// mail to a remote address the client chose itself (scope "forwarded"),
// the null sender, and senders at local or excluded domains keep theirs.
func TestSRSForwardsAliasedMail(t *testing.T) {
	h := srsHarness(t, refTime, "")
	for _, tc := range []struct {
		from  string
		rcpts []string
		want  string
	}{
		{"alice@origin.test", []string{"info@example.org"}, "SRS0=2j0N=G3=origin.test=alice@example.org"},
		{"Bob.Smith@Origin.Test", []string{"info@example.org"}, "SRS0=bOaI=G3=Origin.Test=Bob.Smith@example.org"},
		{"SRS0=abcd=XY=first.test=carol@fwd1.test", []string{"info@example.org"}, "SRS1=0oRr=fwd1.test==abcd=XY=first.test=carol@example.org"},
		// Forwarded to local mailboxes only.
		{"alice@origin.test", []string{"team@example.org"}, "alice@origin.test"},
		{"alice@origin.test", []string{"bob@example.org"}, "alice@origin.test"},
		// A relay client's own mail to a remote address.
		{"alice@origin.test", []string{"dave@remote.test"}, "alice@origin.test"},
		{"", []string{"info@example.org"}, ""},
		{"bob@example.org", []string{"info@example.org"}, "bob@example.org"},
		{"bob@EXAMPLE.net", []string{"info@example.org"}, "bob@EXAMPLE.net"},
		{"x@partner.test", []string{"info@example.org"}, "x@partner.test"},
		{"x@trusted.test", []string{"info@example.org"}, "x@trusted.test"},
		{"x@mx.trusted.test", []string{"info@example.org"}, "x@mx.trusted.test"},
		{"x@untrusted.test", []string{"info@example.org"}, "SRS0=" + srsHashOf("s3cret", "G3", "untrusted.test", "x") + "=G3=untrusted.test=x@example.org"},
	} {
		env, v := dataEnvelope(t, h, tc.from, tc.rcpts...)
		if env.MailFrom != tc.want {
			t.Errorf("from <%s> to %q: sender <%s>, want <%s> (%s)", tc.from, tc.rcpts, env.MailFrom, tc.want, v.Reason)
		}
	}
	env, v := dataEnvelope(t, h, "alice@origin.test", "info@example.org")
	if want := []string{"alice@gmail.test", "bob@example.org"}; !slices.Equal(rcptAddrs(env), want) {
		t.Errorf("recipients %q, want %q", rcptAddrs(env), want)
	}
	if want := "route: SRS: sender <alice@origin.test> → <SRS0=2j0N=G3=origin.test=alice@example.org> (mail to <alice@gmail.test>)"; !strings.Contains(v.Reason, want) {
		t.Errorf("trace %q, want %q in it", v.Reason, want)
	}
}

// srsHashOf is the reference's hash, computed here apart from the codec.
func srsHashOf(secret string, fields ...string) string { return mac(secret, fields...)[:4] }

// replyOf is v's reply as a client sees it, "" for none.
func replyOf(v sdk.Verdict) string {
	if v.Reply == nil {
		return ""
	}
	return fmt.Sprintf("%d %s %s", v.Reply.Code, v.Reply.Enhanced, v.Reply.Text)
}

func rcptAddrs(env sdk.Envelope) []string {
	var out []string
	for _, r := range env.Rcpts {
		out = append(out, r.Addr)
	}
	return out
}

// TestSRSScopeRemote: scope "remote" rewrites all mail to another
// domain, as postsrsd does as sender_canonical_maps, and still not mail
// that stays here.
func TestSRSScopeRemote(t *testing.T) {
	h := srsHarness(t, refTime, `, "scope": "remote"`)
	if env, v := dataEnvelope(t, h, "alice@origin.test", "dave@remote.test"); env.MailFrom != "SRS0=2j0N=G3=origin.test=alice@example.org" {
		t.Errorf("to a remote address: sender <%s> (%s)", env.MailFrom, v.Reason)
	}
	if env, v := dataEnvelope(t, h, "alice@origin.test", "bob@example.org"); env.MailFrom != "alice@origin.test" {
		t.Errorf("to a local address: sender <%s> (%s)", env.MailFrom, v.Reason)
	}
}

// TestSRSAfterSenderCanonical: SRS rewrites the sender sender_canonical
// made, once: one SetSender, the SRS address.
func TestSRSAfterSenderCanonical(t *testing.T) {
	t.Setenv(EnvLocalDomains, "example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }}, `{
	  "srs": {"domain": "example.org", "secrets": ["s3cret"]},
	  "sender_canonical": {"@old.origin.test": "@origin.test", "@web.internal": "@example.org"},
	  "aliases": {"info@example.org": ["alice@gmail.test"]}}`)
	for from, want := range map[string]string{
		"alice@old.origin.test": "SRS0=2j0N=G3=origin.test=alice@example.org",
		"bob@web.internal":      "bob@example.org", // now local: no SRS
	} {
		env, v := dataEnvelope(t, h, from, "info@example.org")
		n := 0
		for _, e := range v.Edits {
			if _, ok := e.(sdk.SetSender); ok {
				n++
			}
		}
		if env.MailFrom != want || n != 1 {
			t.Errorf("<%s>: sender <%s> in %d SetSender edits, want <%s> in one (%s)", from, env.MailFrom, n, want, v.Reason)
		}
	}
}

// TestSRSForwardsBccCopies: a BCC copy to another domain is mail the
// stage sends on too.
func TestSRSForwardsBccCopies(t *testing.T) {
	t.Setenv(EnvLocalDomains, "example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }}, `{
	  "srs": {"domain": "example.org", "secrets": ["s3cret"]},
	  "recipient_bcc": {"bob@example.org": "archive@archive.test"}}`)
	if env, v := dataEnvelope(t, h, "alice@origin.test", "bob@example.org"); env.MailFrom != "SRS0=2j0N=G3=origin.test=alice@example.org" {
		t.Errorf("sender <%s> (%s)", env.MailFrom, v.Reason)
	}
}

// TestSRSReversesAtRcpt: an SRS address of ours is taken at RCPT and, at
// DATA, replaced by the address it stands for, which the rules route; a
// forged, expired or malformed one is refused with 550 5.1.1 saying which.
// An SRS address at another domain is an ordinary recipient.
func TestSRSReversesAtRcpt(t *testing.T) {
	h := srsHarness(t, refTime, "")
	for _, tc := range []struct {
		rcpt, reply, text string
	}{
		{"SRS0=2j0N=G3=origin.test=alice@example.org", "", ""},
		{"srs0=2J0N=g3=Origin.test=alice@EXAMPLE.org.", "", ""},
		{"SRS1=0oRr=fwd1.test==abcd=XY=first.test=carol@example.org", "", ""},
		{"SRS0=2j0N=G3=origin.test=mallory@example.org", "550 5.1.1", "invalid SRS address: its hash does not match"},
		{"SRS0=2j0N=G3=origin.test@example.org", "550 5.1.1", "invalid SRS address: not an SRS address"},
		// Other local domains' SRS-looking users are theirs.
		{"SRS0=2j0N=G3=origin.test=alice@example.net", "", ""},
	} {
		v := h.Rcpt(sdktest.NewTxn(""), tc.rcpt)
		got := replyOf(v)
		if tc.reply == "" && v.Action != sdk.ActionContinue || tc.reply != "" && (v.Action != sdk.ActionReject || !strings.HasPrefix(got, tc.reply) || !strings.Contains(got, tc.text)) {
			t.Errorf("RCPT %s: %v %q (%s), want %q with %q", tc.rcpt, v.Action, got, v.Reason, tc.reply, tc.text)
		}
	}
	late := srsHarness(t, refTime.Add(22*24*time.Hour), "")
	if v := late.Rcpt(sdktest.NewTxn(""), "SRS0=2j0N=G3=origin.test=alice@example.org"); v.Action != sdk.ActionReject || !strings.HasPrefix(replyOf(v), "550 5.1.1 Recipient address rejected: invalid SRS address: its time stamp is too old") {
		t.Errorf("22 days on: %v %q", v.Action, replyOf(v))
	}
	env, v := dataEnvelope(t, h, "", "SRS0=2j0N=G3=origin.test=alice@example.org", "SRS1=0oRr=fwd1.test==abcd=XY=first.test=carol@example.org")
	if want := []string{"alice@origin.test", "SRS0=abcd=XY=first.test=carol@fwd1.test"}; !slices.Equal(rcptAddrs(env), want) || env.MailFrom != "" {
		t.Errorf("DATA from <%s> to %q, want from <> to %q (%s)", env.MailFrom, rcptAddrs(env), want, v.Reason)
	}
	// The decoded recipient keeps the SRS address as its ORCPT.
	if p := env.Rcpts[0].Params; p["ORCPT"] != delivery.OriginalRecipient("SRS0=2j0N=G3=origin.test=alice@example.org") {
		t.Errorf("params %v", p)
	}
}

// TestSRSDeliverMatchesOriginalSender: the deliver hook matches a sender
// rule against the address a stored SRS sender stands for, as the data
// hook did, so that forwarded mail of brand.test keeps its transport.
func TestSRSDeliverMatchesOriginalSender(t *testing.T) {
	h := srsHarness(t, refTime, "")
	env, _ := dataEnvelope(t, h, "news@brand.test", "info@example.org")
	var route string
	for _, r := range env.Rcpts {
		if r.Addr == "alice@gmail.test" {
			route = r.Route
		}
	}
	if !strings.HasPrefix(env.MailFrom, "SRS0=") || route != "smtp:esp.brand.test:587" {
		t.Fatalf("DATA: sender <%s>, route %q", env.MailFrom, route)
	}
	// Its sender is not checked for age: queued mail may wait.
	later := srsHarness(t, refTime.Add(30*24*time.Hour), "")
	v := later.Deliver(&sdk.Txn{Envelope: env}, sdk.Recipient{Addr: "alice@gmail.test", Route: route})
	if v.Action != sdk.ActionContinue || len(v.Edits) != 0 {
		t.Errorf("deliver: %v %v (%s), want the route kept", v.Action, v.Edits, v.Reason)
	}
}

// TestSRSConfigErrors: each mistake names its key under srs, for
// check-config's line, and never shows a secret.
func TestSRSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank")
	if err := os.WriteFile(blank, []byte("good\n  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLocalDomains, "example.org")
	for _, tc := range []struct{ srs, key, text string }{
		{`{"domain": "example.net", "secrets": ["s"]}`, "srs.domain", "not one of local_domains"},
		{`{"secrets": ["s"]}`, "srs.domain", "is needed"},
		{`{"domain": "exa mple.org", "secrets": ["s"]}`, "srs.domain", "not a domain"},
		{`{"domain": "example.org"}`, "srs.secrets", "want secrets"},
		{`{"domain": "example.org", "secrets": ["s3cret", " "]}`, "srs.secrets", "an empty secret"},
		{`{"domain": "example.org", "secrets": ["s"], "secrets_file": "x"}`, "srs.secrets_file", "not both"},
		{`{"domain": "example.org", "secrets_file": "` + filepath.Join(dir, "missing") + `"}`, "srs.secrets_file", "no such file"},
		{`{"domain": "example.org", "secrets_file": "` + blank + `"}`, "srs.secrets_file", blank + ":2: a line of blanks"},
		{`{"domain": "example.org", "secrets": ["s"], "scope": "all"}`, "srs.scope", `want "forwarded"`},
		{`{"domain": "example.org", "secrets": ["s"], "max_age_days": 1024}`, "srs.max_age_days", "want 1 to 1023"},
		{`{"domain": "example.org", "secrets": ["s"], "max_age_days": -1}`, "srs.max_age_days", "want 1 to 1023"},
		{`{"domain": "example.org", "secrets": ["s"], "exclude_domains": ["@x.test"]}`, "srs.exclude_domains", "want a domain"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, `{"srs": `+tc.srs+`}`)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != tc.key || !strings.Contains(ce.Msg, tc.text) || strings.Contains(ce.Msg, "s3cret") {
			t.Errorf("srs %s: %v; want a ConfigError naming %s, saying %q", tc.srs, err, tc.key, tc.text)
		}
	}
	// Outside Sluice, local_domains are not known.
	os.Unsetenv(EnvLocalDomains)
	if _, err := sdktest.Start(t, &Plugin{}, `{"srs": {"domain": "example.org", "secrets": ["s"]}}`); err == nil || !strings.Contains(err.Error(), EnvLocalDomains) {
		t.Errorf("without %s: %v", EnvLocalDomains, err)
	}
}

// TestSRSSecretsFileRotation: secrets_file is postsrsd's format (a secret
// a line, the first signing, empty lines skipped, CRLF taken), and is
// read again when it changes: a new first secret signs at once, and the
// old one, moved to the second line, still reverses what it signed.
func TestSRSSecretsFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs.secrets")
	if err := os.WriteFile(path, []byte("s3cret\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLocalDomains, "example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }}, `{
	  "srs": {"domain": "example.org", "secrets_file": "`+path+`"},
	  "aliases": {"info@example.org": ["alice@gmail.test"]}}`)
	env, _ := dataEnvelope(t, h, "alice@origin.test", "info@example.org")
	if env.MailFrom != "SRS0=2j0N=G3=origin.test=alice@example.org" {
		t.Fatalf("sender <%s>", env.MailFrom)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("n3w\ns3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	env, _ = dataEnvelope(t, h, "alice@origin.test", "info@example.org")
	if want := "SRS0=" + srsHashOf("n3w", "G3", "origin.test", "alice") + "=G3=origin.test=alice@example.org"; env.MailFrom != want {
		t.Errorf("after rotation: sender <%s>, want <%s>", env.MailFrom, want)
	}
	if v := h.Rcpt(sdktest.NewTxn(""), "SRS0=2j0N=G3=origin.test=alice@example.org"); v.Action != sdk.ActionContinue {
		t.Errorf("the old secret's address: %v %v", v.Action, v.Reply)
	}
}
