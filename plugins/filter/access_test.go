package filter

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// writeTable writes a table file in a test's directory and returns its path.
func writeTable(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// accessRules is a config of one access rule at hook on spec, extra
// settings and rules after it.
func accessRules(hook, spec, settings string, after ...string) string {
	rules := append([]string{fmt.Sprintf(`{"name":"acl","hook":%q,"access":%q}`, hook, spec)}, after...)
	if settings != "" {
		settings += ","
	}
	return fmt.Sprintf(`{%s"rules":[%s]}`, settings, strings.Join(rules, ","))
}

// wantRefused checks v refuses with a reply whose text ends in text.
func wantRefused(t *testing.T, what string, v sdk.Verdict, action sdk.Action, code int, enhanced, text string) {
	t.Helper()
	if v.Action != action || v.Reply == nil || v.Reply.Code != code || v.Reply.Enhanced != enhanced || v.Reply.Text != text {
		t.Errorf("%s: %v %+v (reason %q), want %v %d %s %q", what, v.Action, v.Reply, v.Reason, action, code, enhanced, text)
	}
}

// The sender's lookups in access(5)'s order: the address, with its
// extension and then without, the domain and each parent domain, then
// user+ext@ and user@; the null sender as <>. Keys are found in any case.
// The first key found decides, DUNNO included: a more specific DUNNO
// spares the address a less specific REJECT.
func TestAccessSenderLookupOrder(t *testing.T) {
	table := writeTable(t, "sender_access", `# sender_access
Bob+Promo@Example.ORG   REJECT full
bob@example.org         REJECT bare
precise@example.com     REJECT precise
sub.example.net         REJECT domain
example.com             REJECT parent
ok.example.com          DUNNO
carol+x@                REJECT ext local
dave@                   REJECT local
<>                      REJECT null
`)
	h := serve(t, nil, accessRules("mail", "hash:"+table, `"detail_separator":"+"`))
	for _, tc := range []struct{ from, text string }{
		{"bob+promo@example.org", "full"},
		{"bob+other@example.org", "bare"},
		{"BOB@EXAMPLE.ORG", "bare"},
		{"precise@example.com", "precise"},
		{"x@sub.example.net", "domain"},
		{"x@deep.sub.example.net", "domain"},
		{"x@a.example.com", "parent"},
		{"dave@example.com", "parent"}, // the domain before user@
		{"carol+x@anywhere.test", "ext local"},
		{"dave+y@anywhere.test", "local"},
		{"", "null"},
	} {
		v := h.Mail(txnFrom("192.0.2.1", tc.from))
		wantRefused(t, tc.from, v, sdk.ActionReject, 554, "5.7.1", "<"+tc.from+">: Sender address rejected: "+tc.text)
		if !strings.Contains(v.Reason, `rule "acl" (reject)`) || !strings.Contains(v.Reason, table) {
			t.Errorf("%s: reason %q should name the rule and the table", tc.from, v.Reason)
		}
	}
	for _, from := range []string{"x@ok.example.com", "x@deeper.ok.example.com", "eve@nowhere.test", "bob@example.org.test"} {
		wantAction(t, from, h.Mail(txnFrom("192.0.2.1", from)), sdk.ActionContinue)
	}

	// Without detail_separator an extension is part of the local part.
	h = serve(t, nil, accessRules("mail", "hash:"+table, ""))
	wantAction(t, "no separator", h.Mail(txnFrom("192.0.2.1", "bob+other@example.org")), sdk.ActionContinue)
	// The default table type is hash.
	h = serve(t, nil, accessRules("mail", table, ""))
	wantAction(t, "no type", h.Mail(txnFrom("192.0.2.1", "bob@example.org")), sdk.ActionReject)
}

// The recipient's lookups are the sender's; detail_separator may have
// several characters, the first found in the local part separating.
func TestAccessRecipientLookups(t *testing.T) {
	table := writeTable(t, "rcpt_access", "bob@example.org REJECT bob\nexample.net DEFER\nowner-list@ OK\n")
	h := serve(t, nil, accessRules("rcpt", "texthash:"+table, `"detail_separator":"+-"`,
		`{"hook":"rcpt","match":"^owner-","action":"reject"}`))
	tx := txnFrom("192.0.2.1", "a@example.com")
	wantRefused(t, "bob-ext", h.Rcpt(tx, "bob-ext@example.org"), sdk.ActionReject, 554, "5.7.1", "<bob-ext@example.org>: Recipient address rejected: bob")
	wantRefused(t, "DEFER", h.Rcpt(tx, "x@mx.example.net"), sdk.ActionTempfail, 450, "4.7.1", "<x@mx.example.net>: Recipient address rejected: Access denied")
	// owner-list is not split at "-", as Postfix leaves it whole: OK
	// spares it the rule after.
	wantAction(t, "owner-list", h.Rcpt(tx, "owner-list@example.com"), sdk.ActionContinue)
	wantAction(t, "owner-other", h.Rcpt(tx, "owner-other@example.com"), sdk.ActionReject)
}

// With access_parent_domains = false a domain key is that domain alone and
// ".domain" matches its subdomains (parent_domain_matches_subdomains
// without smtpd_access_maps).
func TestAccessParentDomainsOff(t *testing.T) {
	table := writeTable(t, "a", "example.com REJECT exact\n.example.net REJECT subs\n")
	h := serve(t, nil, accessRules("mail", "hash:"+table, `"access_parent_domains":false`))
	wantAction(t, "exact", h.Mail(txnFrom("192.0.2.1", "x@example.com")), sdk.ActionReject)
	wantAction(t, "sub of exact", h.Mail(txnFrom("192.0.2.1", "x@a.example.com")), sdk.ActionContinue)
	wantAction(t, "sub", h.Mail(txnFrom("192.0.2.1", "x@a.b.example.net")), sdk.ActionReject)
	wantAction(t, "dot domain itself", h.Mail(txnFrom("192.0.2.1", "x@example.net")), sdk.ActionContinue)

	// By default the reverse: ".example.net" is never asked.
	h = serve(t, nil, accessRules("mail", "hash:"+table, ""))
	wantAction(t, "sub of parent", h.Mail(txnFrom("192.0.2.1", "x@a.example.com")), sdk.ActionReject)
	wantAction(t, "dot form unused", h.Mail(txnFrom("192.0.2.1", "x@a.example.net")), sdk.ActionContinue)
}

// check_client_access: the verified name ("unknown" without one) and its
// parent domains, then the address and its networks, IPv4 by octets and
// IPv6 by colon groups of the compressed form.
func TestAccessClientLookupOrder(t *testing.T) {
	table := writeTable(t, "client_access", `mail.example.com  REJECT name
example.org       REJECT parent
unknown           REJECT no name
192.0.2.1         REJECT address
198.51.100        REJECT net
2001:db8:1        REJECT v6net
`)
	h := serve(t, nil, accessRules("connect", "hash:"+table, ""))
	for _, tc := range []struct{ name, ip, text string }{
		{"mail.example.com", "192.0.2.1", "name"}, // the name before the address
		{"x.example.org", "203.0.113.5", "parent"},
		{"", "203.0.113.9", "no name"},
		{"host.test", "192.0.2.1", "address"},
		{"host.test", "::ffff:192.0.2.1", "address"},
		{"host.test", "198.51.100.77", "net"},
		{"host.test", "2001:db8:1::5", "v6net"},
	} {
		s := txnFrom(tc.ip, "").Session
		s.ClientName = tc.name
		name := tc.name
		if name == "" {
			name = "unknown"
		}
		ip := strings.TrimPrefix(tc.ip, "::ffff:")
		wantRefused(t, tc.name+" "+tc.ip, h.Connect(s), sdk.ActionReject, 554, "5.7.1", "<"+name+"["+ip+"]>: Client host rejected: "+tc.text)
	}
	for _, ip := range []string{"192.0.2.10", "198.51.10.1", "2001:db8:2::1"} {
		s := txnFrom(ip, "").Session
		s.ClientName = "host.test"
		wantAction(t, ip, h.Connect(s), sdk.ActionContinue)
	}
}

// check_helo_access: the HELO name and its parent domains; an address
// literal or a bare address is looked up as it is, not by its networks.
func TestAccessHeloLookups(t *testing.T) {
	table := writeTable(t, "helo_access", "example.org REJECT parent\n[192.0.2.1] REJECT literal\n192.0.2 REJECT net\n")
	h := serve(t, nil, accessRules("helo", "hash:"+table, ""))
	tx := txnFrom("192.0.2.1", "")
	wantRefused(t, "name", h.Helo(tx, "mx.Example.ORG"), sdk.ActionReject, 554, "5.7.1", "<mx.Example.ORG>: Helo command rejected: parent")
	wantRefused(t, "literal", h.Helo(tx, "[192.0.2.1]"), sdk.ActionReject, 554, "5.7.1", "<[192.0.2.1]>: Helo command rejected: literal")
	wantAction(t, "bare address", h.Helo(tx, "192.0.2.9"), sdk.ActionContinue)
	wantAction(t, "other", h.Helo(tx, "mx.example.net"), sdk.ActionContinue)
}

// Every access(5) action, at rcpt, with a rule after the access rule that
// rejects some of the addresses: OK and a number pass (the later rule is
// not asked), DUNNO leaves it to the later rule, the refusals answer as
// Postfix does (access_map_reject_code 554, access_map_defer_code 450,
// an enhanced status of the text's own, fitted to a recipient, its class
// the code's), DEFER_IF_REJECT turns the later reject into 450,
// DEFER_IF_PERMIT defers unless a later rule refuses, HOLD quarantines
// unless refused, WARN and INFO are logged and go on.
func TestAccessActions(t *testing.T) {
	table := writeTable(t, "actions", `ok@a.test      OK
num@a.test     1234567
dunno@a.test   DUNNO
rej@a.test     REJECT
rejt@a.test    reject 5.7.9 Go away
def@a.test     DEFER
deft@a.test    DEFER Busy now
c550@a.test    550 No such user here
c450@a.test    450 4.2.1 Mailbox busy
dsn@a.test     554 4.1.8 Bad domain
dis@a.test     DISCARD spam trap
hold@a.test    HOLD look at it
holdr@a.test   HOLD
warn@a.test    WARN looks odd
info@a.test    INFO noted
dir@a.test     DEFER_IF_REJECT
dirok@a.test   DEFER_IF_REJECT
dip@a.test     DEFER_IF_PERMIT Not now
dipr@a.test    DEFER_IF_PERMIT
relay@a.test   RELAY
`)
	p, lines := warnPlugin(nil)
	h := serve(t, p, accessRules("rcpt", "hash:"+table, "",
		`{"name":"later","hook":"rcpt","match":"^(ok|num|dunno|holdr|warn|dir|dipr)@","action":"reject","text":"later"}`))
	tx := txnFrom("192.0.2.1", "s@example.com")
	for _, a := range []string{"ok", "num", "relay"} {
		v := h.Rcpt(tx, a+"@a.test")
		wantAction(t, a, v, sdk.ActionContinue)
		if !strings.Contains(v.Reason, `rule "acl" (pass)`) {
			t.Errorf("%s: reason %q", a, v.Reason)
		}
	}
	wantRefused(t, "DUNNO", h.Rcpt(tx, "dunno@a.test"), sdk.ActionReject, 550, "5.7.1", "later")
	wantRefused(t, "REJECT", h.Rcpt(tx, "rej@a.test"), sdk.ActionReject, 554, "5.7.1", "<rej@a.test>: Recipient address rejected: Access denied")
	wantRefused(t, "REJECT text", h.Rcpt(tx, "rejt@a.test"), sdk.ActionReject, 554, "5.7.9", "<rejt@a.test>: Recipient address rejected: Go away")
	wantRefused(t, "DEFER", h.Rcpt(tx, "def@a.test"), sdk.ActionTempfail, 450, "4.7.1", "<def@a.test>: Recipient address rejected: Access denied")
	wantRefused(t, "DEFER text", h.Rcpt(tx, "deft@a.test"), sdk.ActionTempfail, 450, "4.7.1", "<deft@a.test>: Recipient address rejected: Busy now")
	wantRefused(t, "550", h.Rcpt(tx, "c550@a.test"), sdk.ActionReject, 550, "5.7.1", "<c550@a.test>: Recipient address rejected: No such user here")
	wantRefused(t, "450", h.Rcpt(tx, "c450@a.test"), sdk.ActionTempfail, 450, "4.2.1", "<c450@a.test>: Recipient address rejected: Mailbox busy")
	wantRefused(t, "dsn fixed", h.Rcpt(tx, "dsn@a.test"), sdk.ActionReject, 554, "5.1.2", "<dsn@a.test>: Recipient address rejected: Bad domain")
	wantAction(t, "DISCARD", h.Rcpt(tx, "dis@a.test"), sdk.ActionDiscard)
	v := h.Rcpt(tx, "hold@a.test")
	wantAction(t, "HOLD", v, sdk.ActionQuarantine)
	if !strings.Contains(v.Reason, "HOLD look at it") {
		t.Errorf("HOLD: reason %q", v.Reason)
	}
	wantRefused(t, "HOLD then reject", h.Rcpt(tx, "holdr@a.test"), sdk.ActionReject, 550, "5.7.1", "later")
	lines.Take(t)
	wantRefused(t, "WARN then reject", h.Rcpt(tx, "warn@a.test"), sdk.ActionReject, 550, "5.7.1", "later")
	wantWarned(t, "WARN", lines.Take(t), map[string]string{"rule": "acl", "why": "WARN looks odd"})
	wantAction(t, "INFO", h.Rcpt(tx, "info@a.test"), sdk.ActionContinue)
	wantWarned(t, "INFO", lines.Take(t), map[string]string{"rule": "acl", "why": "INFO noted"})
	wantRefused(t, "DEFER_IF_REJECT", h.Rcpt(tx, "dir@a.test"), sdk.ActionTempfail, 450, "4.7.1", "<dir@a.test>: Recipient address rejected: Service unavailable")
	wantAction(t, "DEFER_IF_REJECT, nothing rejects", h.Rcpt(tx, "dirok@a.test"), sdk.ActionContinue)
	wantRefused(t, "DEFER_IF_PERMIT", h.Rcpt(tx, "dip@a.test"), sdk.ActionTempfail, 450, "4.7.1", "<dip@a.test>: Recipient address rejected: Not now")
	wantRefused(t, "DEFER_IF_PERMIT, then reject", h.Rcpt(tx, "dipr@a.test"), sdk.ActionReject, 550, "5.7.1", "later")

	// A pass after DEFER_IF_PERMIT is deferred too.
	dip := writeTable(t, "dip", "example.com DEFER_IF_PERMIT\n")
	h = serve(t, nil, fmt.Sprintf(`{"rules":[{"name":"d","hook":"mail","access":%q},{"hook":"mail","match":"^vip@","action":"pass"}]}`, "hash:"+dip))
	wantRefused(t, "DEFER_IF_PERMIT, then pass", h.Mail(txnFrom("192.0.2.1", "vip@example.com")), sdk.ActionTempfail, 450, "4.7.1",
		"<vip@example.com>: Sender address rejected: Service unavailable")
}

// REDIRECT, BCC and PREPEND are the redirect, bcc and add_header actions:
// recorded at their hook, acted on at data.
func TestAccessEditActions(t *testing.T) {
	table := writeTable(t, "edits", `redir@a.test  REDIRECT review@b.test
bcc@a.test    BCC archive@b.test
pre@a.test    PREPEND X-Access: tagged by table
`)
	h := serve(t, nil, accessRules("rcpt", "hash:"+table, ""))
	run := func(id, rcpt string) sdk.Verdict {
		tx := txnFrom("192.0.2.1", "s@example.com")
		tx.Session.ID = id
		wantAction(t, rcpt+" mail", h.Mail(tx), sdk.ActionContinue)
		v := h.Rcpt(tx, rcpt)
		wantAction(t, rcpt, v, sdk.ActionContinue)
		tx.Envelope.Rcpts = []sdk.Recipient{{Addr: rcpt}}
		v = h.Data(tx, []byte("Subject: hi\r\n\r\nhello\r\n"))
		wantAction(t, rcpt+" data", v, sdk.ActionContinue)
		return v
	}
	tx := sdktest.NewTxn("s@example.com", "redir@a.test")
	if got := rcptsAfter(tx, run("s-redir", "redir@a.test")); !slices.Equal(got, []string{"review@b.test"}) {
		t.Errorf("REDIRECT: recipients %v", got)
	}
	if got := addedRcpts(run("s-bcc", "bcc@a.test")); !slices.Equal(got, []string{"archive@b.test NOTIFY=NEVER"}) {
		t.Errorf("BCC: added %v", got)
	}
	v := run("s-pre", "pre@a.test")
	if !slices.ContainsFunc(v.Edits, func(e sdk.Edit) bool { return e == sdk.AddHeader{Name: "X-Access", Value: "tagged by table"} }) {
		t.Errorf("PREPEND: edits %v", v.Edits)
	}
}

// A cidr table: the client address against networks in order, "!" for
// what is outside one, if..endif blocks, IPv6; the client's name is
// asked too and matches nothing.
func TestAccessCIDR(t *testing.T) {
	table := writeTable(t, "client.cidr", `# cidr
192.0.2.0/24          OK
[198.51.100.7]        REJECT one host
if 203.0.113.0/24
!203.0.113.0/25       REJECT upper half
endif
2001:db8::/32         REJECT v6
!10.0.0.0/8           DUNNO
10.1.0.0/16           DISCARD
`)
	h := serve(t, nil, accessRules("connect", "cidr:"+table, "",
		`{"hook":"connect","match":".","action":"tempfail"}`))
	conn := func(ip string) sdk.Verdict {
		s := txnFrom(ip, "").Session
		s.ClientName = ""
		return h.Connect(s)
	}
	wantAction(t, "OK network", conn("192.0.2.200"), sdk.ActionContinue)
	wantRefused(t, "host", conn("198.51.100.7"), sdk.ActionReject, 554, "5.7.1", "<unknown[198.51.100.7]>: Client host rejected: one host")
	wantRefused(t, "inside if, negated", conn("203.0.113.200"), sdk.ActionReject, 554, "5.7.1", "<unknown[203.0.113.200]>: Client host rejected: upper half")
	// Inside the if, not matched: the rules after endif; "!10/8" is DUNNO.
	wantAction(t, "inside if, lower half", conn("203.0.113.5"), sdk.ActionTempfail)
	wantAction(t, "v6", conn("2001:db8::25"), sdk.ActionReject)
	wantAction(t, "10.1/16", conn("10.1.2.3"), sdk.ActionDiscard)
	wantAction(t, "10/8 outside 10.1", conn("10.2.0.1"), sdk.ActionTempfail)
}

// A cidr rule is about addresses of its own family only, "!" included, as
// Postfix's cidr_match_execute skips a rule of the other family: a
// negated IPv6 network does not match every IPv4 client, nor "if !IPv4"
// open its block to every IPv6 one. "[network/prefix]" is a pattern as
// "[network]/prefix" is.
func TestAccessCIDRFamilies(t *testing.T) {
	table := writeTable(t, "client.cidr", `!2001:db8::/32     REJECT outside the v6 net
if !192.0.2.0/24
::/0               DISCARD
endif
[2001:db8:1::/48]  REJECT bracketed
`)
	h := serve(t, nil, accessRules("connect", "cidr:"+table, ""))
	conn := func(ip string) sdk.Verdict {
		s := txnFrom(ip, "").Session
		s.ClientName = ""
		return h.Connect(s)
	}
	wantAction(t, "IPv4 client, negated IPv6 rule", conn("198.51.100.1"), sdk.ActionContinue)
	wantAction(t, "IPv4 client, ::ffff: form", conn("::ffff:198.51.100.1"), sdk.ActionContinue)
	wantAction(t, "IPv6 client inside the v6 net, if !IPv4", conn("2001:db8::1"), sdk.ActionContinue)
	wantRefused(t, "IPv6 client outside", conn("2001:db9::1"), sdk.ActionReject, 554, "5.7.1",
		"<unknown[2001:db9::1]>: Client host rejected: outside the v6 net")
	wantRefused(t, "[network/prefix]", conn("2001:db8:1::7"), sdk.ActionReject, 554, "5.7.1",
		"<unknown[2001:db8:1::7]>: Client host rejected: bracketed")
}

// regexp and pcre tables: the whole string, not its parts; case ignored
// unless the i flag; $n from the groups; "!" negation; if..endif; the old
// "/re1/!/re2/" form of regexp tables; pcre's s on by default and its A
// and U flags.
func TestAccessRegexpAndPCRE(t *testing.T) {
	rx := writeTable(t, "sender.regexp", `/^postmaster@/      OK
/^(.+)@spam\.example$/  REJECT $1 is not welcome
/^Case@/i   REJECT case kept
if !/\.example$/
/@/         REJECT not example
endif
/^a.+@x\.example$/!/^ab/ DISCARD
/^(ab*)/    REDIRECT ${1}@review.test
`)
	h := serve(t, nil, accessRules("mail", "regexp:"+rx, ""))
	mail := func(from string) sdk.Verdict { return h.Mail(txnFrom("192.0.2.1", from)) }
	wantAction(t, "OK", mail("postmaster@spam.example"), sdk.ActionContinue)
	wantRefused(t, "$1", mail("Bob@SPAM.example"), sdk.ActionReject, 554, "5.7.1", "<Bob@SPAM.example>: Sender address rejected: Bob is not welcome")
	wantAction(t, "i flag: case matters", mail("case@x.example"), sdk.ActionContinue)
	wantAction(t, "i flag: case matches", mail("Case@x.example"), sdk.ActionReject)
	wantRefused(t, "if !", mail("x@other.test"), sdk.ActionReject, 554, "5.7.1", "<x@other.test>: Sender address rejected: not example")
	wantAction(t, "re1 and not re2", mail("ac@x.example"), sdk.ActionDiscard)
	wantAction(t, "re2 matched", mail("abc@x.example"), sdk.ActionContinue)
	v := mail("abbb@y.example")
	if !strings.Contains(v.Reason, "REDIRECT abbb@review.test") {
		t.Errorf("leftmost longest ${1}: reason %q", v.Reason)
	}
	// The parts are not asked: no domain lookup in a regexp table.
	dom := writeTable(t, "dom.regexp", "/^spam\\.example$/ REJECT\n")
	h = serve(t, nil, accessRules("mail", "regexp:"+dom, ""))
	wantAction(t, "no parts", h.Mail(txnFrom("192.0.2.1", "x@spam.example")), sdk.ActionContinue)

	// A regexp client table sees the name, then the address.
	cl := writeTable(t, "client.regexp", "/^unknown$/ REJECT no name\n/^192\\.0\\.2\\./ REJECT net\n")
	h = serve(t, nil, accessRules("connect", "regexp:"+cl, ""))
	s := txnFrom("192.0.2.5", "").Session
	s.ClientName = ""
	wantRefused(t, "regexp unknown", h.Connect(s), sdk.ActionReject, 554, "5.7.1", "<unknown[192.0.2.5]>: Client host rejected: no name")
	s.ClientName = "mx.example.org"
	wantRefused(t, "regexp address", h.Connect(s), sdk.ActionReject, 554, "5.7.1", "<mx.example.org[192.0.2.5]>: Client host rejected: net")

	pc := writeTable(t, "helo.pcre", `/^a.c$/      REJECT dot
/b+/U     REJECT lazy $0
/^(x+?)/A   PREPEND X-Helo: $1
/^localhost$/ REJECT You are not localhost
`)
	_, err := sdktest.Start(t, &Plugin{}, accessRules("helo", "pcre:"+pc, ""))
	if err == nil || !strings.Contains(err.Error(), pc+":2:") {
		t.Fatalf("$0: err %v, want one naming line 2", err)
	}
	pc = writeTable(t, "helo.pcre", `/^a.c$/      REJECT dot
/(b+)/U     REJECT lazy $1
/^(x+?)/A   PREPEND X-Helo: $1
/^LOCALHOST$/ REJECT You are not localhost
`)
	h = serve(t, nil, accessRules("helo", "pcre:"+pc, ""))
	tx := txnFrom("192.0.2.1", "")
	wantAction(t, "pcre s on: dot matches a newline", h.Helo(tx, "a\nc"), sdk.ActionReject)
	wantRefused(t, "pcre U", h.Helo(tx, "abbb"), sdk.ActionReject, 554, "5.7.1", "<abbb>: Helo command rejected: lazy b")
	wantRefused(t, "pcre i by default", h.Helo(tx, "localhost"), sdk.ActionReject, 554, "5.7.1", "<localhost>: Helo command rejected: You are not localhost")
	v = h.Helo(tx, "xxx")
	if !strings.Contains(v.Reason, "X-Helo: x") {
		t.Errorf("pcre U off by +?: reason %q", v.Reason)
	}
}

// A table is read again when its file changes; an edit that does not read
// keeps the table read before, logged once and noted in the reason, and
// the next good edit is taken.
func TestAccessTableReadAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sender_access")
	write := func(content string) {
		t.Helper()
		// Replaced whole, as an admin should: a new file renamed over.
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("spam.example REJECT first\n")
	p, lines := warnPlugin(nil)
	h := serve(t, p, accessRules("mail", "hash:"+path, ""))
	mail := func(from string) sdk.Verdict { return h.Mail(txnFrom("192.0.2.1", from)) }
	wantRefused(t, "first", mail("a@spam.example"), sdk.ActionReject, 554, "5.7.1", "<a@spam.example>: Sender address rejected: first")

	write("spam.example REJECT second\nother.example DEFER\n")
	wantRefused(t, "edited", mail("a@spam.example"), sdk.ActionReject, 554, "5.7.1", "<a@spam.example>: Sender address rejected: second")
	wantAction(t, "added", mail("a@other.example"), sdk.ActionTempfail)

	write("spam.example REJECT third\nbroken\n")
	v := mail("a@spam.example")
	wantRefused(t, "bad edit", v, sdk.ActionReject, 554, "5.7.1", "<a@spam.example>: Sender address rejected: second")
	if !strings.Contains(v.Reason, "reading it again failed") || !strings.Contains(v.Reason, path+":2:") {
		t.Errorf("reason %q should say the table is as last read, and why", v.Reason)
	}
	mail("b@spam.example")
	recs := lines.Take(t)
	if len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["rule"] != "acl" || !strings.Contains(fmt.Sprint(recs[0]["error"]), path+":2:") {
		t.Errorf("log %v, want one warning naming the rule and the line", recs)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	wantAction(t, "removed", mail("a@spam.example"), sdk.ActionReject)
	// A file appearing where one was found missing may be being written
	// there, and is read once left alone for 2s: this one was.
	write("other.example DEFER\n")
	if err := os.Chtimes(path, time.Time{}, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantAction(t, "good again", mail("a@spam.example"), sdk.ActionContinue)
	if v := mail("a@other.example"); strings.Contains(v.Reason, "failed") {
		t.Errorf("reason %q after a good edit", v.Reason)
	}
}

// A file that cannot be read (renamed over with a umask that shuts the
// plugin out) is tried again at the next lookup, not only after its next
// change: the chmod that mends it changes neither its time nor its size.
// One warning says so.
func TestAccessTableUnreadableRetried(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sender_access")
	if err := os.WriteFile(path, []byte("spam.example REJECT first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var warned []error
	tab, err := openAccessTable("hash:"+path, func(err error) { warned = append(warned, err) })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".new", []byte("spam.example REJECT second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	denied := true
	tab.file.ReadFile = func(name string) ([]byte, error) {
		if denied {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrPermission}
		}
		return os.ReadFile(name)
	}
	text := func() string {
		m, _ := tab.current()
		e, _ := m.find("spam.example")
		return e.value.text
	}
	for range 2 {
		if got := text(); got != "first" {
			t.Fatalf("unreadable: %q, want the table read before", got)
		}
	}
	if len(warned) != 1 {
		t.Errorf("warnings %v, want one", warned)
	}
	denied = false // chmod: the file is the same
	if got := text(); got != "second" {
		t.Fatalf("readable again: %q, want the file's entry", got)
	}
	if _, err := tab.current(); err != nil {
		t.Errorf("err %v after the file was read", err)
	}
}

// What cannot be read, or would mean less than it says, is an error at
// start naming the rule and, for a table's content, its file and line.
func TestAccessConfigErrors(t *testing.T) {
	good := writeTable(t, "good", "example.com REJECT\n")
	for _, tc := range []struct{ name, file, rule, want string }{
		{"missing file", "", `"hook":"mail","access":"hash:/nonexistent/sender_access"`, "no such file"},
		{"db file named", "", `"hook":"mail","access":"hash:` + good + `.db"`, "the text file postmap reads"},
		{"unknown type", "", `"hook":"mail","access":"ldap:/etc/postfix/ldap.cf"`, `table type "ldap"`},
		{"data hook", "", `"hook":"header","access":"hash:` + good + `"`, "connect, helo, mail and rcpt"},
		{"with match", "", `"hook":"mail","match":"x","access":"hash:` + good + `"`, "access takes no match"},
		{"with action", "", `"hook":"mail","action":"reject","access":"hash:` + good + `"`, "access takes no action"},
		{"with text", "", `"hook":"mail","text":"no","access":"hash:` + good + `"`, "access takes no action, code, enhanced or text"},
		{"with redirect", "", `"hook":"mail","redirect":"a@b.test","access":"hash:` + good + `"`, "access takes no header_name"},
		{"no value", "a OK\nb\n", "hash", ":2: want \"key value\""},
		{"restriction", "a OK\nb permit_mynetworks\n", "hash", ":2: \"permit_mynetworks\" is not an access(5) action"},
		{"lookup table", "a check_sender_access hash:/x\n", "hash", ":1: \"check_sender_access hash:/x\" names a lookup table"},
		{"FILTER", "a FILTER smtp:[127.0.0.1]:10025\n", "hash", ":1: FILTER"},
		{"REDIRECT without @", "a REDIRECT bob\n", "hash", ":1: REDIRECT needs user@domain"},
		{"PREPEND bad", "a PREPEND no colon\n", "hash", ":1: PREPEND needs"},
		{"PREPEND CR", "a PREPEND X-A: one\rtwo\n", "hash", ":1: PREPEND X-A: the value must be one line"},
		{"PREPEND NUL", "a PREPEND X-A: one\x00two\n", "hash", ":1: PREPEND X-A: the value must be one line"},
		{"PREPEND long", "a PREPEND X-A: " + strings.Repeat("x", 994) + "\n", "hash", ":1: PREPEND X-A: the field is 999 characters"},
		{"indented first", "  a OK\n", "hash", ":1: a line starting with white space"},
		{"RE2 cannot", "/ok/ OK\n/(a)\\1/ REJECT\n", "regexp", ":2: pattern"},
		{"BRE", "/a/x REJECT\n", "regexp", ":1: flag x"},
		{"pcre x", "/a b/x REJECT\n", "pcre", ":1: flag x"},
		{"unknown flag", "/a/q REJECT\n", "pcre", ":1: unknown flag"},
		{"no closing", "/abc REJECT\n", "regexp", ":1: no closing"},
		{"$2 of one group", "/(a)/ REJECT $2\n", "regexp", ":1: $2: the pattern has 1 groups"},
		{"$1 negated", "!/(a)/ REJECT $1\n", "regexp", ":1: $1 in the value of a negated pattern"},
		{"$name", "/(a)/ REJECT $name\n", "pcre", ":1: $n"},
		{"endif alone", "/a/ OK\nendif\n", "regexp", ":2: endif without if"},
		{"if open", "if /a/\n/b/ OK\n", "pcre", ":1: if without endif"},
		{"unrecognized", "/a/ OK\nfoo bar\n", "regexp", ":2: want /pattern/ result"},
		{"cidr host bits", "192.0.2.1/24 OK\n", "cidr", ":1: \"192.0.2.1/24\" has host bits set: perhaps 192.0.2.0/24"},
		{"cidr bad", "example.com OK\n", "cidr", ":1: bad address pattern"},
		{"cidr bracket", "[192.0.2.1 OK\n", "cidr", ":1: bad address pattern"},
		{"cidr no value", "192.0.2.0/24\n", "cidr", ":1: no value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule, path := tc.rule, ""
			if tc.file != "" {
				path = writeTable(t, "table", tc.file)
				rule = fmt.Sprintf(`"hook":"mail","access":%q`, tc.rule+":"+path)
			}
			_, err := sdktest.Start(t, &Plugin{}, `{"rules":[{"name":"acl",`+rule+`}]}`)
			if err == nil || !strings.Contains(err.Error(), path+tc.want) || !strings.Contains(err.Error(), `rule "acl"`) {
				t.Fatalf("err = %v, want one naming the rule and %q", err, path+tc.want)
			}
		})
	}
	if _, err := parseAccessValue("PREPEND X-A: " + strings.Repeat("x", 993)); err != nil {
		t.Errorf("a field of 998 characters: %v", err)
	}
	_, err := sdktest.Start(t, &Plugin{}, `{"detail_separator":"@","rules":[]}`)
	if err == nil || !strings.Contains(err.Error(), "detail_separator") {
		t.Fatalf("detail_separator @: err %v", err)
	}
}
