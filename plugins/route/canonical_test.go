package route

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const canonicalConfig = `{
  "detail_separator": "+",
  "sender_canonical": {
    "root@web1.internal.example": "webmaster@example.org",
    "@old.example": "@example.org",
    "alice@legacy.example": "alice.smith@example.org",
    "chain@a.example": "chain@b.example",
    "chain@b.example": "final@example.org",
    "@map.example": "catchall@example.org",
    "@web.example.org": "@host.web.example.org",
    "\"quoted\"@legacy.example": "\"q u\"@example.org"
  },
  "masquerade_domains": ["!keep.example.org", "example.org"],
  "masquerade_exceptions": ["root"],
  "sender_bcc": {"@example.org": "out@archive.test"},
  "rules": [
    {"match": "archive.test", "transport": "smtp:archive.test:25"},
    {"match": "*", "sender": "example.org", "transport": "smtp:out.example.org:587"},
    {"match": "*", "transport": "mx"}
  ]}`

// senderAfterData runs the data hook over a message from from and returns
// the envelope sender it leaves, and the verdict.
func senderAfterData(t *testing.T, h *sdktest.Harness, from string) (string, sdk.Verdict) {
	t.Helper()
	txn := sdktest.NewTxn(from, "bob@remote.test")
	v := h.Data(txn, []byte("Subject: x\r\n\r\nx\r\n"))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	return txn.Envelope.MailFrom, v
}

// TestSenderCanonical: the envelope sender is looked up as Postfix's
// canonical(5) has it (the address, then without its +detail, which goes
// on to the result, then @domain, whose "@domain" value keeps the local
// part), again on the result until nothing matches, then masqueraded: a
// subdomain of a masquerade domain becomes it, unless an earlier "!"
// entry keeps it or its local part is an exception.
func TestSenderCanonical(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, canonicalConfig)
	for _, tc := range []struct{ from, want string }{
		{"root@web1.internal.example", "webmaster@example.org"},
		{"ROOT@Web1.Internal.Example.", "webmaster@example.org"},
		{"alice+x@old.example", "alice+x@example.org"},
		{"Alice@OLD.example", "Alice@example.org"},
		{"alice+news@legacy.example", "alice.smith+news@example.org"}, // propagate_unmatched_extensions
		{"chain@a.example", "final@example.org"},
		{"bob+x@map.example", "catchall@example.org"}, // an @domain match takes no +detail off
		{"user@web.example.org", "user@example.org"},  // canonical, then masquerade
		{"user@host.sub.example.org", "user@example.org"},
		{"user@example.org", "user@example.org"},
		{"root@host.example.org", "root@host.example.org"},
		{"Root@host.example.org", "Root@host.example.org"},
		{"root+x@host.example.org", "root+x@example.org"}, // the exception is the whole local part, as Postfix's
		{"user@a.keep.example.org", "user@a.keep.example.org"},
		{"user@keep.example.org", "user@keep.example.org"},
		{"user@notexample.org", "user@notexample.org"},
		{"nobody@elsewhere.example", "nobody@elsewhere.example"},
		{`"quoted"+x@legacy.example`, `"quoted"+x@legacy.example`}, // "q u"+x@ is no address: kept
		{"", ""},
	} {
		got, v := senderAfterData(t, h, tc.from)
		if got != tc.want {
			t.Errorf("sender <%s> after data: <%s>, want <%s>", tc.from, got, tc.want)
		}
		if changed := tc.from != tc.want; changed != strings.Contains(v.Reason, "route: sender <"+tc.from+"> → <"+tc.want+">") {
			t.Errorf("sender <%s>: reason %q", tc.from, v.Reason)
		}
	}
}

// TestSenderCanonicalRoutes: the rules see the sender as rewritten, at
// RCPT as at DATA, and so does sender_bcc, as Postfix's sender-dependent
// routing and sender_bcc_maps see cleanup's rewritten sender.
func TestSenderCanonicalRoutes(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, canonicalConfig)
	txn := sdktest.NewTxn("alice@old.example")
	if v := h.Rcpt(txn, "bob@remote.test"); routeOf(v, "bob@remote.test") != "smtp:out.example.org:587" {
		t.Errorf("rcpt from alice@old.example: %+v, want the example.org sender rule's route", v)
	}
	txn = sdktest.NewTxn("alice@old.example", "bob@remote.test")
	v := h.Data(txn, []byte("Subject: x\r\n\r\nx\r\n"))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	got := map[string]string{}
	for _, r := range txn.Envelope.Rcpts {
		got[r.Addr] = r.Route
	}
	if got["bob@remote.test"] != "smtp:out.example.org:587" || got["out@archive.test"] != "smtp:archive.test:25" || len(got) != 2 {
		t.Errorf("data from alice@old.example: recipients %v, want bob@ by the sender rule and sender_bcc's copy", got)
	}
	// Other mail takes the rule after.
	if v := h.Rcpt(sdktest.NewTxn("carol@elsewhere.example"), "bob@remote.test"); routeOf(v, "bob@remote.test") != "" {
		t.Errorf("rcpt from carol@elsewhere.example: %+v, want the default route", v)
	}
}

const headerMessage = "From: Root (cron daemon) <root@web1.internal.example>\r\n" +
	"Sender: alice@old.example\r\n" +
	"Reply-To: \"Smith, A.\" <alice+x@old.example>, other@elsewhere.example\r\n" +
	"To: bob@old.example\r\n" +
	"Resent-From: nobody@elsewhere.example\r\n" +
	"Resent-From: List:\r\n user@host.example.org, root@host.example.org;\r\n" +
	"Errors-To: root@web1.internal.example (unterminated\r\n" +
	"Subject: root@web1.internal.example\r\n" +
	"\r\nbody\r\n"

// TestSenderCanonicalHeaders: in mail from the site's own clients the
// sender fields' addresses are rewritten as the envelope sender is, each
// field changed where an address is and nowhere else (display names,
// comments, groups, folding and the other addresses kept); recipient
// fields and the Subject are not, nor a field that does not parse. In
// mail from elsewhere, or with rewrite_headers = false, the envelope
// sender alone is rewritten.
func TestSenderCanonicalHeaders(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, canonicalConfig)
	own := sdktest.NewTxn("root@web1.internal.example", "bob@remote.test")
	own.Session.RelayClient = true
	v := h.Data(own, []byte(headerMessage))
	want := "From: Root (cron daemon) <webmaster@example.org>\r\n" +
		"Sender: alice@example.org\r\n" +
		"Reply-To: \"Smith, A.\" <alice+x@example.org>, other@elsewhere.example\r\n" +
		"To: bob@old.example\r\n" +
		"Resent-From: nobody@elsewhere.example\r\n" +
		"Resent-From: List:\r\n user@example.org, root@host.example.org;\r\n" +
		"Errors-To: root@web1.internal.example (unterminated\r\n" +
		"Subject: root@web1.internal.example\r\n" +
		"\r\nbody\r\n"
	if got := string(sdktest.Apply(t, []byte(headerMessage), v)); got != want {
		t.Errorf("own client's message after data:\n%s\nwant\n%s", got, want)
	}
	for _, w := range []string{"From: root@web1.internal.example → webmaster@example.org", "Resent-From: user@host.example.org → user@example.org", "Errors-To: left as it is"} {
		if !strings.Contains(v.Reason, w) {
			t.Errorf("reason %q does not say %q", v.Reason, w)
		}
	}

	// An AUTH user's mail is the site's too.
	authed := sdktest.NewTxn("root@web1.internal.example", "bob@remote.test")
	authed.Session.AuthUser = "alice"
	if got := string(sdktest.Apply(t, []byte(headerMessage), h.Data(authed, []byte(headerMessage)))); got != want {
		t.Errorf("AUTH client's message after data:\n%s\nwant\n%s", got, want)
	}

	// Mail from elsewhere keeps its headers; its sender is rewritten.
	v = h.Data(sdktest.NewTxn("root@web1.internal.example", "bob@remote.test"), []byte(headerMessage))
	if got := string(sdktest.Apply(t, []byte(headerMessage), v)); got != headerMessage {
		t.Errorf("a stranger's message after data:\n%s\nwant it unchanged", got)
	}
	if len(v.Edits) == 0 || sdk.DescribeEdit(v.Edits[0]) != "set sender <webmaster@example.org>" {
		t.Errorf("a stranger's message: edits %v, want the sender rewritten", v.Edits)
	}

	// rewrite_headers = false: the envelope alone.
	off := sdktest.New(t, &Plugin{}, `{"rewrite_headers": false, "sender_canonical": {"@old.example": "@example.org"}}`)
	own = sdktest.NewTxn("alice@old.example", "bob@remote.test")
	own.Session.RelayClient = true
	v = off.Data(own, []byte(headerMessage))
	if got := string(sdktest.Apply(t, []byte(headerMessage), v)); got != headerMessage {
		t.Errorf("rewrite_headers = false:\n%s\nwant it unchanged", got)
	}

	// A field whose bytes are not UTF-8 is left as it is: writing back
	// the value the plugin sees would turn them into U+FFFD.
	latin1 := "From: J\xf6rg <alice@old.example>\r\nSender: alice@old.example\r\n\r\nx\r\n"
	own = sdktest.NewTxn("alice@old.example", "bob@remote.test")
	own.Session.RelayClient = true
	want = "From: J\xf6rg <alice@old.example>\r\nSender: alice@example.org\r\n\r\nx\r\n"
	if got := string(sdktest.Apply(t, []byte(latin1), h.Data(own, []byte(latin1)))); got != want {
		t.Errorf("a Latin-1 From:\n%q\nwant\n%q", got, want)
	}
}

// TestSenderCanonicalConfigErrors: keys and values that are no address
// or @domain, two keys of one address, a rewriting that loops, and
// masquerade settings that can match nothing are errors at start.
func TestSenderCanonicalConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{"sender_canonical": {"root": "webmaster@example.org"}}`, `sender_canonical "root": want user@domain or @domain`},
		{`{"sender_canonical": {"a b@example.org": "webmaster@example.org"}}`, `sender_canonical "a b@example.org": local part has`},
		{`{"sender_canonical": {"@bad..example": "@example.org"}}`, `sender_canonical "@bad..example": bad domain`},
		{`{"sender_canonical": {"root@example.org": "webmaster"}}`, `sender_canonical "root@example.org": "webmaster": want user@domain or @domain`},
		{`{"sender_canonical": {"root@example.org": "<webmaster@example.org>"}}`, `"<webmaster@example.org>": bad domain`},
		{`{"sender_canonical": {"@old.example": "@new..example"}}`, `"@new..example": bad domain`},
		{`{"sender_canonical": {"root@example.org": "a@x.test", "ROOT@Example.org.": "b@x.test"}}`, "the same address as another key"},
		{`{"sender_canonical": {"a@x.test": "b@x.test", "b@x.test": "a@x.test"}}`, `sender_canonical "a@x.test": the rewriting does not end: a@x.test → b@x.test → a@x.test`},
		{`{"sender_canonical": {"@a.test": "@b.test", "@b.test": "@a.test"}}`, `sender_canonical "@a.test": the rewriting does not end: user@a.test → user@b.test → user@a.test`},
		{`{"masquerade_domains": ["*.example.org"]}`, `masquerade_domains "*.example.org": want a domain`},
		{`{"masquerade_domains": [""]}`, `masquerade_domains "": want a domain`},
		{`{"masquerade_domains": ["example.org"], "masquerade_exceptions": ["root@example.org"]}`, `masquerade_exceptions "root@example.org": want a local part`},
		{`{"masquerade_exceptions": ["root"]}`, "masquerade_exceptions without masquerade_domains"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	// A key that maps to itself is no loop.
	if _, err := sdktest.Start(t, &Plugin{}, `{"sender_canonical": {"a@x.test": "A@x.test"}}`); err != nil {
		t.Errorf("a self map: %v", err)
	}
}
