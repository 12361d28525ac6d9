package route

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const bccConfig = `{
  "detail_separator": "+",
  "always_bcc": "archive@example.org",
  "sender_bcc": {"@example.org": "out@archive.test", "boss@example.org": "boss-out@archive.test"},
  "recipient_bcc": {"alice@example.org": "alice-in@archive.test", "@Example.NET": "net-in@archive.test",
                    "dave@example.org": "net-in@archive.test"},
  "aliases": {"team@example.org": ["alice@example.org", "bob@example.org"],
              "alice-in@archive.test": ["alice-archive@archive.test"]},
  "rules": [
    {"match": "archive.test", "transport": "smtp:archive.test:25"},
    {"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24"}
  ]}`

// bccAfterData runs the data hook over a message from from to rcpts and
// returns the envelope's recipients then: address, NOTIFY and route.
func bccAfterData(t *testing.T, h *sdktest.Harness, from string, rcpts ...string) (map[string]string, sdk.Verdict) {
	t.Helper()
	txn := sdktest.NewTxn(from, rcpts...)
	v := h.Data(txn, []byte("Subject: x\r\n\r\nx\r\n"))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	got := map[string]string{}
	for _, r := range txn.Envelope.Rcpts {
		got[r.Addr] = "NOTIFY=" + r.Params["NOTIFY"] + " " + r.Route
	}
	return got, v
}

// TestBcc: always_bcc, sender_bcc (the sender, then without its detail,
// then its @domain) and recipient_bcc (each recipient as received, before
// the aliases rewrite it) each add their address once, NOTIFY=NEVER,
// itself rewritten by the aliases and routed by the rules, as Postfix's
// cleanup adds always_bcc, sender_bcc_maps' and recipient_bcc_maps'.
func TestBcc(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, bccConfig)
	got, v := bccAfterData(t, h, "Boss+x@example.org", "alice+news@example.org", "carol@example.net", "dave@example.org")
	want := map[string]string{
		"alice+news@example.org":     "NOTIFY= lmtp:tcp:127.0.0.1:24",
		"carol@example.net":          "NOTIFY= ",
		"dave@example.org":           "NOTIFY= lmtp:tcp:127.0.0.1:24",
		"boss-out@archive.test":      "NOTIFY=NEVER smtp:archive.test:25",  // sender_bcc, boss+x@ without its detail
		"alice-archive@archive.test": "NOTIFY=NEVER smtp:archive.test:25",  // alice+news@'s, rewritten by an alias
		"net-in@archive.test":        "NOTIFY=NEVER smtp:archive.test:25",  // carol's and dave's, once
		"archive@example.org":        "NOTIFY=NEVER lmtp:tcp:127.0.0.1:24", // always_bcc
	}
	if !maps.Equal(got, want) {
		t.Errorf("recipients after data:\n%v\nwant\n%v", got, want)
	}
	if !strings.Contains(v.Reason, "copy to <boss-out@archive.test> (sender_bcc for Boss+x@example.org), NOTIFY=NEVER") {
		t.Errorf("reason %q does not say what was copied", v.Reason)
	}

	// recipient_bcc looks at the recipient as received: team@ is an alias
	// of alice@ and bob@, yet alice@'s copy is not added; the sender's
	// @domain entry applies; a BCC address already a recipient is not
	// added again.
	got, _ = bccAfterData(t, h, "eve@example.org", "team@example.org", "archive@example.org")
	want = map[string]string{
		"alice@example.org":   "NOTIFY= lmtp:tcp:127.0.0.1:24",
		"bob@example.org":     "NOTIFY= lmtp:tcp:127.0.0.1:24",
		"archive@example.org": "NOTIFY= lmtp:tcp:127.0.0.1:24",
		"out@archive.test":    "NOTIFY=NEVER smtp:archive.test:25",
	}
	if !maps.Equal(got, want) {
		t.Errorf("mail to an alias:\n%v\nwant\n%v", got, want)
	}

	// The null sender is looked up in no sender map; always_bcc applies.
	got, _ = bccAfterData(t, h, "", "x@elsewhere.test")
	want = map[string]string{"x@elsewhere.test": "NOTIFY= ", "archive@example.org": "NOTIFY=NEVER lmtp:tcp:127.0.0.1:24"}
	if !maps.Equal(got, want) {
		t.Errorf("from <>:\n%v\nwant\n%v", got, want)
	}

	// A message with no recipient left gets no copy.
	if _, v := bccAfterData(t, h, "boss@example.org"); len(v.Edits) != 0 {
		t.Errorf("no recipients: edits %v, want none", v.Edits)
	}

	// Nor does a report (Postfix adds no BCC to mail it generates).
	if v := h.Bounce(sdktest.NewTxn("", "boss@example.org"), []byte("Subject: x\r\n\r\nx\r\n")); len(v.Edits) != 1 {
		t.Errorf("a report: edits %v, want its route alone", v.Edits)
	}
}

// TestBccConfigErrors: a BCC address the core would refuse to add, a key
// that is no address or @domain, two keys of one address and a BCC
// address the aliases cannot rewrite are errors at start.
func TestBccConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{"always_bcc": "archive"}`, `always_bcc "archive"`},
		{`{"always_bcc": "<archive@example.org>"}`, "bad domain"},
		{`{"always_bcc": "a b@example.org"}`, `always_bcc "a b@example.org"`},
		{`{"sender_bcc": {"example.org": "a@archive.test"}}`, `sender_bcc "example.org": want user@domain or @domain`},
		{`{"sender_bcc": {"@example.org": "a@archive..test"}}`, `sender_bcc "@example.org": "a@archive..test": bad domain`},
		{`{"recipient_bcc": {"alice@example.org": ""}}`, `recipient_bcc "alice@example.org"`},
		{`{"recipient_bcc": {"alice@example.org": "a@archive.test", "ALICE@example.org.": "b@archive.test"}}`, "the same address as another key"},
		{`{"aliases": {"loop1@x.test": ["loop2@x.test"], "loop2@x.test": ["loop1@x.test"]}, "always_bcc": "loop1@x.test"}`, "alias chain"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestBccSRSReversed: recipient_bcc looks up a bounce to an SRS address of
// ours as the address it stands for, as Postfix's cleanup looks
// recipient_bcc_maps up after recipient_canonical_maps (postsrsd's
// reverse table): the SRS domain's @domain entry copies no bounce, the
// original sender's entry copies its bounces. It used to be the other way.
func TestBccSRSReversed(t *testing.T) {
	t.Setenv(EnvLocalDomains, "example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }}, `{
	  "srs": {"domain": "example.org", "secrets": ["s3cret"]},
	  "recipient_bcc": {"@example.org": "archive@example.org", "alice@origin.test": "alice-bounces@archive.test"}}`)
	got, v := bccAfterData(t, h, "", "SRS0=2j0N=G3=origin.test=alice@example.org")
	want := map[string]string{
		"alice@origin.test":          "NOTIFY= ",
		"alice-bounces@archive.test": "NOTIFY=NEVER ",
	}
	if !maps.Equal(got, want) {
		t.Errorf("bounce to an SRS address:\n%v\nwant\n%v", got, want)
	}
	if !strings.Contains(v.Reason, "copy to <alice-bounces@archive.test> (recipient_bcc for alice@origin.test), NOTIFY=NEVER") {
		t.Errorf("reason %q", v.Reason)
	}
	// A user of the SRS domain is still copied by its @domain entry.
	got, _ = bccAfterData(t, h, "", "bob@example.org")
	if want := map[string]string{"bob@example.org": "NOTIFY= ", "archive@example.org": "NOTIFY=NEVER "}; !maps.Equal(got, want) {
		t.Errorf("mail to bob:\n%v\nwant\n%v", got, want)
	}
}
