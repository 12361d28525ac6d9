package main

import (
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// clock is the plugin's injected time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

var t0 = time.Date(2025, 8, 4, 9, 30, 0, 0, time.UTC)

const cfg = `{"responders": [{"address": "alice@example.org", "body": "I am away until Monday.\n"}]}`

// start serves the plugin on a clock at t0.
func start(t *testing.T, config string) (*sdktest.Harness, *clock) {
	t.Helper()
	c := &clock{t: t0}
	return sdktest.New(t, &Autoreply{now: c.Now}, config), c
}

// msg is a message to alice from bob, with extra header lines.
func msg(extra ...string) []byte {
	return []byte("From: Bob <bob@example.net>\nTo: Alice <alice@example.org>\nSubject: lunch?\n" +
		"Message-ID: <m1@example.net>\n" + strings.Join(extra, "") + "\nshall we?\n")
}

func bob() *sdk.Txn { return sdktest.NewTxn("bob@example.net", "alice@example.org") }

// data runs the data hook and checks that the verdict is a bare continue.
func data(t *testing.T, h *sdktest.Harness, txn *sdk.Txn, raw []byte) sdk.Verdict {
	t.Helper()
	v := h.Data(txn, raw)
	if v.Action != sdk.ActionContinue || len(v.Edits) != 0 {
		t.Fatalf("verdict %+v, want continue without edits", v)
	}
	return v
}

func TestDeclaresDataHeadersOnly(t *testing.T) {
	h, _ := start(t, cfg)
	if !reflect.DeepEqual(h.Info().Hooks, []sdk.Hook{sdk.HookData}) || h.Info().NeedsBody {
		t.Errorf("Info = %+v, want data hook, headers only", h.Info())
	}
}

// The reply goes from the null sender to the envelope sender, with the
// fields RFC 3834 §3.1 and §5 ask for, and is recorded in the state dir.
func TestReply(t *testing.T) {
	h, _ := start(t, cfg)
	v := data(t, h, bob(), msg("References: <m0@example.net>\n"))
	if v.Reason != "autoreply: replied for alice@example.org to bob@example.net (sdktest-1)" {
		t.Errorf("reason %q", v.Reason)
	}
	sent := h.Sent()
	if len(sent) != 1 || sent[0].From != "" || !reflect.DeepEqual(sent[0].To, []string{"bob@example.net"}) {
		t.Fatalf("sent %+v, want one message from <> to bob", sent)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(sent[0].Message)))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"From":                      "<alice@example.org>",
		"To":                        "<bob@example.net>",
		"Subject":                   "Auto: lunch?",
		"In-Reply-To":               "<m1@example.net>",
		"References":                "<m0@example.net> <m1@example.net>",
		"Auto-Submitted":            "auto-replied",
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "7bit",
		"Date":                      "Mon, 04 Aug 2025 09:30:00 +0000",
	} {
		if got := strings.ReplaceAll(m.Header.Get(k), "\r\n", ""); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<autoreply.") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID %q", id)
	}
	if body, _ := io.ReadAll(m.Body); string(body) != "I am away until Monday.\r\n" {
		t.Errorf("body %q", body)
	}
	if _, err := os.Stat(filepath.Join(h.StateDir(), stateFile)); err != nil {
		t.Errorf("state: %v", err)
	}
}

// A sender gets one reply per days (RFC 3834 §2); another sender his
// own, and a domain in other case is the same sender.
func TestOncePerInterval(t *testing.T) {
	h, c := start(t, cfg)
	data(t, h, bob(), msg())
	v := data(t, h, sdktest.NewTxn("bob@EXAMPLE.net", "alice@EXAMPLE.ORG"), msg())
	if len(h.Sent()) != 1 || !strings.Contains(v.Reason, "answered within 7 days") {
		t.Fatalf("second message: %d sent, reason %q", len(h.Sent()), v.Reason)
	}
	data(t, h, sdktest.NewTxn("carol@example.net", "alice@example.org"), msg())
	if len(h.Sent()) != 2 {
		t.Fatalf("another sender: %d sent", len(h.Sent()))
	}
	c.Add(7*24*time.Hour - time.Minute)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 2 {
		t.Fatalf("within 7 days: %d sent", len(h.Sent()))
	}
	c.Add(time.Minute)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 3 {
		t.Fatalf("after 7 days: %d sent", len(h.Sent()))
	}

	h, c = start(t, `{"responders": [{"address": "alice@example.org", "body": "away", "days": 1}]}`)
	data(t, h, bob(), msg())
	c.Add(24 * time.Hour)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 2 {
		t.Fatalf("days = 1: %d sent after a day", len(h.Sent()))
	}
}

// Each rule of RFC 3834 §2 and RFC 5230 §4.5-4.6 keeps the responder quiet.
func TestSuppressed(t *testing.T) {
	h, _ := start(t, cfg)
	cases := []struct {
		name, sender, want string
		raw                []byte
	}{
		{"null sender", "", "null sender", msg()},
		{"mailer-daemon", "MAILER-DAEMON@example.net", "automated", msg()},
		{"listserv", "listserv@example.net", "automated", msg()},
		{"majordomo", "Majordomo@example.net", "automated", msg()},
		{"owner-", "owner-staff@example.net", "automated", msg()},
		{"-request", "staff-Request@example.net", "automated", msg()},
		{"-bounces", "staff-bounces@example.net", "automated", msg()},
		{"verp -bounces", "staff-bounces+alice=example.org@example.net", "automated", msg()},
		{"verp owner-", "owner-staff+M123@example.net", "automated", msg()},
		{"itself", "alice@example.org", "responder itself", msg()},
		{"auto-submitted", "bob@example.net", "Auto-Submitted", msg("Auto-Submitted: auto-replied\n")},
		{"auto-generated", "bob@example.net", "Auto-Submitted", msg("auto-submitted: Auto-Generated; owner-email=x@y\n")},
		{"list-id", "bob@example.net", "List-Id", msg("List-Id: <staff.example.net>\n")},
		{"list-unsubscribe", "bob@example.net", "List-Unsubscribe", msg("List-Unsubscribe: <mailto:u@example.net>\n")},
		{"list-post", "bob@example.net", "List-Post", msg("List-Post: <mailto:staff@example.net>\n")},
		{"precedence bulk", "bob@example.net", "Precedence", msg("Precedence: bulk\n")},
		{"precedence junk", "bob@example.net", "Precedence", msg("Precedence: Junk\n")},
		{"precedence list", "bob@example.net", "Precedence", msg("Precedence: list\n")},
		{"suppress all", "bob@example.net", "X-Auto-Response-Suppress", msg("X-Auto-Response-Suppress: All\n")},
		{"suppress oof", "bob@example.net", "X-Auto-Response-Suppress", msg("X-Auto-Response-Suppress: DR, OOF, AutoReply\n")},
		{"bcc", "bob@example.net", "not addressed", []byte("From: bob@example.net\nTo: team@example.org\nSubject: x\n\nhi\n")},
		{"no to", "bob@example.net", "not addressed", []byte("From: bob@example.net\nSubject: x\n\nhi\n")},
		{"other local part", "bob@example.net", "not addressed", []byte("From: bob@example.net\nTo: alice2@example.org, xalice@example.org\n\nhi\n")},
	}
	for _, tc := range cases {
		v := data(t, h, sdktest.NewTxn(tc.sender, "alice@example.org"), tc.raw)
		if !strings.Contains(v.Reason, "no reply for alice@example.org") || !strings.Contains(v.Reason, tc.want) {
			t.Errorf("%s: reason %q, want one with %q", tc.name, v.Reason, tc.want)
		}
	}
	if n := len(h.Sent()); n != 0 {
		t.Fatalf("%d replies sent", n)
	}
}

// The address counts in To, Cc, Bcc and their Resent- forms (RFC 5230
// §4.5), in any syntax of an address list, its domain without case;
// Auto-Submitted: no and Precedence first-class are no reason to stay quiet.
func TestAddressedInPerson(t *testing.T) {
	for i, head := range []string{
		"To: alice@example.org",
		"To: team@example.org,\n Alice <alice@EXAMPLE.org>",
		"To: team@example.org\nCc: \"Smith, Alice\" <alice@example.org>",
		"To: team@example.org\nResent-To: alice@example.org",
		"To: team@example.org\nresent-cc: <alice@example.org>",
		"Bcc: alice@example.org",
		"To: \"broken <alice@example.org>",
		"To: alice@example.org\nAuto-Submitted: No (a person wrote this)\nPrecedence: first-class",
	} {
		h, _ := start(t, cfg)
		data(t, h, bob(), []byte("From: bob@example.net\n"+head+"\nSubject: x\n\nhi\n"))
		if len(h.Sent()) != 1 {
			t.Errorf("case %d (%q): %d sent", i, head, len(h.Sent()))
		}
	}
	// An internationalized domain (RFC 6531) is one domain in either
	// form: the responder's, the envelope's and the header's.
	for i, head := range []string{"To: alice@XN--XAMPLE-9UA.org", "To: Alice <alice@éxample.org>",
		"To: Team: =?windows-1252?q?Al=E9?= <alice@éxample.org>;"} {
		rcpt := []string{"alice@éxample.org", "alice@xn--xample-9ua.org"}[i%2]
		h, _ := start(t, `{"responders": [{"address": "alice@ÉXAMPLE.org", "body": "away"}]}`)
		data(t, h, sdktest.NewTxn("bob@example.net", rcpt), []byte("From: bob@example.net\n"+head+"\nSubject: x\n\nhi\n"))
		if len(h.Sent()) != 1 {
			t.Errorf("IDN: rcpt %s, %q: %d sent", rcpt, head, len(h.Sent()))
		}
	}
}

// Outside from and until nothing is sent; until's day is included.
func TestDates(t *testing.T) {
	config := `{"responders": [{"address": "alice@example.org", "body": "away", "from": "2025-08-04T10:00:00Z", "until": "2025-08-10"}]}`
	h, c := start(t, config)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 0 {
		t.Fatalf("before from: %d sent", len(h.Sent()))
	}
	c.Add(30 * time.Minute)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 1 {
		t.Fatalf("from: %d sent", len(h.Sent()))
	}
	h, c = start(t, config)
	end, err := time.ParseInLocation(time.DateOnly, "2025-08-11", time.Local)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(end.Sub(t0) - time.Second)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 1 {
		t.Fatalf("until's last second: %d sent", len(h.Sent()))
	}
	c.Add(time.Second)
	data(t, h, sdktest.NewTxn("carol@example.net", "alice@example.org"), msg())
	if len(h.Sent()) != 1 {
		t.Fatalf("after until: %d sent", len(h.Sent()))
	}
}

// A Send that fails leaves the verdict continue and records nothing: the
// next message from that sender gets the reply.
func TestSendFails(t *testing.T) {
	h, _ := start(t, cfg)
	h.FailSend(errors.New("disk full"))
	v := data(t, h, bob(), msg())
	if !strings.Contains(v.Reason, "not sent") || !strings.Contains(v.Reason, "disk full") {
		t.Errorf("reason %q", v.Reason)
	}
	h.FailSend(nil)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 1 {
		t.Fatalf("after a failed Send: %d sent", len(h.Sent()))
	}
}

// Under check-config and replay nothing is sent.
func TestDryRun(t *testing.T) {
	t.Setenv(sdk.EnvDryRun, "1")
	h, _ := start(t, cfg)
	if v := data(t, h, bob(), msg()); v.Reason != "" || len(h.Sent()) != 0 {
		t.Fatalf("dry run: reason %q, %d sent", v.Reason, len(h.Sent()))
	}
}

// Each recipient with a responder answers for itself; others none.
func TestRecipients(t *testing.T) {
	h, _ := start(t, `{"responders": [{"address": "alice@example.org", "body": "a"}, {"address": "carol@Example.org", "body": "c", "subject": "Away"}]}`)
	raw := []byte("From: bob@example.net\nTo: alice@example.org, carol@example.org, dave@example.org\nSubject: x\n\nhi\n")
	data(t, h, sdktest.NewTxn("bob@example.net", "alice@example.org", "dave@example.org", "carol@example.org"), raw)
	sent := h.Sent()
	if len(sent) != 2 {
		t.Fatalf("%d sent", len(sent))
	}
	for i, want := range []string{"From: <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: Auto: x\r\n", "From: <carol@example.org>\r\nTo: <bob@example.net>\r\nSubject: Away\r\n"} {
		if !strings.HasPrefix(string(sent[i].Message), want) {
			t.Errorf("reply %d:\n%s", i, sent[i].Message)
		}
	}
}

// A non-ASCII subject is RFC 2047 encoded, a non-ASCII body
// quoted-printable; an original Subject in RFC 2047 is decoded first.
func TestNonASCII(t *testing.T) {
	h, _ := start(t, `{"responders": [{"address": "alice@example.org", "body": "Je suis en congé.\n"}]}`)
	long := strings.Repeat("é", 60)
	data(t, h, bob(), []byte("To: alice@example.org\nSubject: =?iso-8859-1?q?caf=E9?= "+long+"\n\nhi\n"))
	m, err := mail.ReadMessage(strings.NewReader(string(h.Sent()[0].Message)))
	if err != nil {
		t.Fatal(err)
	}
	raw := m.Header.Get("Subject")
	for _, line := range strings.Split(string(h.Sent()[0].Message), "\r\n") {
		if len(line) > 76 && strings.Contains(line, "=?") {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(raw, "\r\n", ""))
	if err != nil || subj != "Auto: café "+long {
		t.Errorf("Subject %q decodes to %q (%v)", raw, subj, err)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding %q", cte)
	}
	if body, err := io.ReadAll(quotedprintable.NewReader(m.Body)); err != nil || string(body) != "Je suis en congé.\r\n" {
		t.Errorf("body %q (%v)", body, err)
	}
}

// A bad config is refused at Configure with the key it is about.
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for c, key := range map[string]string{
		`{}`: "responders",
		`{"responders": [{"address": "alice", "body": "x"}]}`:                                            "responders.address",
		`{"responders": [{"address": "a@x", "body": "x"}, {"address": "a@X", "body": "y"}]}`:             "responders.address",
		`{"responders": [{"address": "a@x"}]}`:                                                           "responders.body",
		`{"responders": [{"address": "a@x", "body": "x", "body_file": "f"}]}`:                            "responders.body_file",
		`{"responders": [{"address": "a@x", "body_file": "` + filepath.Join(dir, "missing") + `"}]}`:     "responders.body_file",
		`{"responders": [{"address": "a@x", "body": "x", "subject": "a\nb"}]}`:                           "responders.subject",
		`{"responders": [{"address": "a@x", "body": "x", "from": "tomorrow"}]}`:                          "responders.from",
		`{"responders": [{"address": "a@x", "body": "x", "until": "2025-13-01"}]}`:                       "responders.until",
		`{"responders": [{"address": "a@x", "body": "x", "from": "2025-08-10", "until": "2025-08-01"}]}`: "responders.until",
		`{"responders": [{"address": "a@x", "body": "x", "days": 0}]}`:                                   "responders.days",
		`{"responders": [{"address": "a@x", "body": "x", "days": "7"}]}`:                                 "responders.days",
		`{"responders": [{"address": "a@x", "body": "x", "dayz": 7}]}`:                                   "dayz",
	} {
		_, err := sdktest.Start(t, &Autoreply{}, c)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != key {
			t.Errorf("config %s: error %v, want one about %s", c, err, key)
		}
	}
	// body_file is read at start.
	f := filepath.Join(dir, "away.txt")
	if err := os.WriteFile(f, []byte("Back on the 11th.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, _ := start(t, `{"responders": [{"address": "alice@example.org", "body_file": "`+f+`"}]}`)
	data(t, h, bob(), msg())
	if len(h.Sent()) != 1 || !strings.HasSuffix(string(h.Sent()[0].Message), "\r\n\r\nBack on the 11th.\r\n") {
		t.Fatalf("body_file: %+v", h.Sent())
	}
}

// Nothing of the original breaks the reply's header: a Subject that
// decodes to CR LF and control characters, one of 10 KB, a Message-ID with
// a control character or of kilobytes. Every line stays under 998
// octets, the Subject one line of text, and only well-formed IDs thread.
func TestReplyHeaderHygiene(t *testing.T) {
	long := "<" + strings.Repeat("x", 2000) + "@example.net>"
	for i, tc := range []struct{ head, subject, inReplyTo string }{
		{"Subject: =?utf-8?q?a=0D=0AX-Evil:_1=07?=\nMessage-ID: <m1@example.net>", "Auto: a  X-Evil: 1", "<m1@example.net>"},
		{"Subject: " + strings.Repeat("word ", 2048) + "\nMessage-ID: <m\x01x@example.net>", "", ""},
		{"Subject: x\nMessage-ID: " + long + "\nReferences: " + long + " <m0@example.net>", "Auto: x", ""},
		{"Subject: x\nMessage-ID: <m1@example.net>\nReferences: " + long + " <m0@example.net>", "Auto: x", "<m1@example.net>"},
		{"Subject: AUTO: x\nMessage-ID: <m1@example.net>", "AUTO: x", "<m1@example.net>"},
	} {
		h, _ := start(t, cfg)
		data(t, h, bob(), []byte("From: bob@example.net\nTo: alice@example.org\n"+tc.head+"\n\nhi\n"))
		if len(h.Sent()) != 1 {
			t.Fatalf("case %d: %d sent", i, len(h.Sent()))
		}
		raw := string(h.Sent()[0].Message)
		for _, line := range strings.Split(raw, "\r\n") {
			if len(line) > 998 || strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				t.Errorf("case %d: bad line of %d octets: %.80q", i, len(line), line)
			}
		}
		m, err := mail.ReadMessage(strings.NewReader(raw))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(m.Header.Get("Subject"), "\r\n", ""))
		if err != nil || strings.ContainsFunc(subj, func(r rune) bool { return r < 0x20 }) || tc.subject != "" && subj != tc.subject {
			t.Errorf("case %d: Subject decodes to %q (%v), want %q", i, subj, err, tc.subject)
		}
		if got := m.Header.Get("In-Reply-To"); got != tc.inReplyTo {
			t.Errorf("case %d: In-Reply-To %.80q, want %q", i, got, tc.inReplyTo)
		}
		if refs := m.Header.Get("References"); strings.Contains(refs, "xxxx") {
			t.Errorf("case %d: References %.80q", i, refs)
		}
	}
}

// Two responders answering each other (alice's and bob's, each a Sluice
// with this plugin) stop at once: alice's reply comes from <> (RFC 3834
// §3.3) and, were its envelope sender rewritten on the way, says
// Auto-Submitted: auto-replied (§5), so bob's responder is quiet either way.
func TestRespondersDoNotLoop(t *testing.T) {
	ha, _ := start(t, cfg)
	hb, _ := start(t, `{"responders": [{"address": "bob@example.net", "body": "Bob is away too.\n"}]}`)
	data(t, ha, bob(), []byte("From: bob@example.net\nTo: alice@example.org\nSubject: x\n\nhi\n"))
	if len(ha.Sent()) != 1 {
		t.Fatalf("alice: %d sent", len(ha.Sent()))
	}
	r := ha.Sent()[0]
	for sender, want := range map[string]string{r.From: "null sender", "alice@example.org": "Auto-Submitted: auto-replied"} {
		v := data(t, hb, sdktest.NewTxn(sender, r.To...), r.Message)
		if !strings.Contains(v.Reason, "no reply for bob@example.net: "+want) {
			t.Errorf("alice's reply from <%s>: bob's reason %q, want %q", sender, v.Reason, want)
		}
	}
	if len(hb.Sent()) != 0 {
		t.Fatalf("bob answered alice's auto-reply: %d sent", len(hb.Sent()))
	}
}

// Addresses compare without case, the local part too, as the route
// plugin and Sieve (i;ascii-casemap, RFC 5228 §2.7.3) compare them: the
// envelope recipient, the To check, the sender who is the responder and
// the record of senders. The reply is From the address as configured.
func TestAddressCase(t *testing.T) {
	h, _ := start(t, `{"responders": [{"address": "Alice.Smith@Example.org", "body": "away"}]}`)
	raw := []byte("From: bob@example.net\nTo: ALICE.SMITH@example.org\nSubject: x\n\nhi\n")
	data(t, h, sdktest.NewTxn("bob@example.net", "alice.smith@example.ORG"), raw)
	if len(h.Sent()) != 1 || !strings.HasPrefix(string(h.Sent()[0].Message), "From: <Alice.Smith@example.org>\r\n") {
		t.Fatalf("sent %+v, want one reply From <Alice.Smith@example.org>", h.Sent())
	}
	if v := data(t, h, sdktest.NewTxn("Bob@example.net", "ALICE.smith@example.org"), raw); !strings.Contains(v.Reason, "answered within 7 days") {
		t.Errorf("Bob@ after bob@: reason %q", v.Reason)
	}
	if v := data(t, h, sdktest.NewTxn("alice.SMITH@example.org", "alice.smith@example.org"), raw); !strings.Contains(v.Reason, "sent by the responder itself") {
		t.Errorf("from herself in other case: reason %q", v.Reason)
	}
	if len(h.Sent()) != 1 {
		t.Fatalf("%d sent", len(h.Sent()))
	}
}

// Mail to alice+lists@ is alice's (RFC 5233): her responder answers it
// once, From her address, and alice+lists@ in To is hers (RFC 5230 §4.5:
// the final envelope recipient is the user's). A responder of the
// subaddress itself wins; detail_separator = "" turns this off, "-"
// changes the separator.
func TestSubaddress(t *testing.T) {
	h, _ := start(t, cfg)
	v := data(t, h, sdktest.NewTxn("bob@example.net", "alice+lists@example.org", "Alice+Other@example.org"),
		[]byte("From: bob@example.net\nTo: alice+lists@example.org\nSubject: x\n\nhi\n"))
	if len(h.Sent()) != 1 || !strings.HasPrefix(string(h.Sent()[0].Message), "From: <alice@example.org>\r\n") {
		t.Fatalf("sent %+v, want one reply from alice", h.Sent())
	}
	if v.Reason != "autoreply: replied for alice@example.org to bob@example.net (sdktest-1)" {
		t.Errorf("two subaddresses: reason %q, want one reply noted", v.Reason)
	}
	v = data(t, h, sdktest.NewTxn("carol@example.net", "alice@example.org"), []byte("To: Alice <alice+work@example.org>\nSubject: x\n\nhi\n"))
	if len(h.Sent()) != 2 || !strings.Contains(v.Reason, "replied for alice@example.org") {
		t.Fatalf("To alice+work@: %d sent, reason %q", len(h.Sent()), v.Reason)
	}
	if v := data(t, h, sdktest.NewTxn("alice+test@example.org", "alice@example.org"), msg()); !strings.Contains(v.Reason, "responder itself") {
		t.Errorf("from alice+test@: reason %q", v.Reason)
	}

	h, _ = start(t, `{"responders": [{"address": "alice@example.org", "body": "a"}, {"address": "alice+lists@example.org", "body": "l"}]}`)
	data(t, h, sdktest.NewTxn("bob@example.net", "alice+lists@example.org"), []byte("To: alice+lists@example.org\n\nhi\n"))
	if len(h.Sent()) != 1 || !strings.HasSuffix(string(h.Sent()[0].Message), "\r\n\r\nl\r\n") {
		t.Fatalf("own responder of alice+lists@: %+v", h.Sent())
	}

	h, _ = start(t, `{"detail_separator": "", "responders": [{"address": "alice@example.org", "body": "a"}]}`)
	v = data(t, h, sdktest.NewTxn("bob@example.net", "alice+lists@example.org"), []byte("To: alice+lists@example.org\n\nhi\n"))
	if len(h.Sent()) != 0 || v.Reason != "" {
		t.Fatalf("detail_separator empty: %d sent, reason %q", len(h.Sent()), v.Reason)
	}
	v = data(t, h, bob(), []byte("To: alice+lists@example.org\n\nhi\n"))
	if len(h.Sent()) != 0 || !strings.Contains(v.Reason, "not addressed") {
		t.Fatalf("detail_separator empty, To alice+lists@: %d sent, reason %q", len(h.Sent()), v.Reason)
	}

	h, _ = start(t, `{"detail_separator": "-", "responders": [{"address": "alice@example.org", "body": "a"}]}`)
	data(t, h, sdktest.NewTxn("bob@example.net", "alice-lists@example.org"), []byte("To: alice-lists@example.org\n\nhi\n"))
	if len(h.Sent()) != 1 {
		t.Fatalf(`detail_separator "-": %d sent`, len(h.Sent()))
	}
}

// addresses are the recipient's other addresses (Sieve's :addresses, RFC
// 5230 §4.5): one of them in To or Cc is hers, with a +detail or in other
// case too, and mail from one is from her. They are not recipients the
// responder answers for.
func TestAddresses(t *testing.T) {
	config := `{"responders": [{"address": "alice@example.org", "body": "away", "addresses": ["Alice.Smith@example.org", "info@éxample.org"]}]}`
	for i, to := range []string{"alice.smith@example.org", "Team <ALICE.SMITH+x@example.org>", "info@xn--xample-9ua.org"} {
		h, _ := start(t, config)
		data(t, h, bob(), []byte("From: bob@example.net\nTo: "+to+"\nSubject: x\n\nhi\n"))
		if len(h.Sent()) != 1 || !strings.HasPrefix(string(h.Sent()[0].Message), "From: <alice@example.org>\r\n") {
			t.Errorf("case %d, To %s: sent %+v", i, to, h.Sent())
		}
	}
	h, _ := start(t, config)
	if v := data(t, h, bob(), []byte("To: smith@example.org\n\nhi\n")); !strings.Contains(v.Reason, "not addressed") {
		t.Errorf("other address: reason %q", v.Reason)
	}
	if v := data(t, h, sdktest.NewTxn("alice.smith@example.org", "alice@example.org"), msg()); !strings.Contains(v.Reason, "responder itself") {
		t.Errorf("from an alias of hers: reason %q", v.Reason)
	}
	if v := data(t, h, sdktest.NewTxn("bob@example.net", "alice.smith@example.org"), msg()); v.Reason != "" {
		t.Errorf("envelope recipient in addresses: reason %q", v.Reason)
	}
	if len(h.Sent()) != 0 {
		t.Fatalf("%d sent", len(h.Sent()))
	}
	for c, key := range map[string]string{
		`{"responders": [{"address": "a@x", "body": "x", "addresses": ["nobody"]}]}`:         "responders.addresses",
		`{"detail_separator": "@", "responders": [{"address": "a@x", "body": "x"}]}`:         "detail_separator",
		`{"responders": [{"address": "a@x", "body": "x"}, {"address": "A@X", "body": "y"}]}`: "responders.address",
	} {
		_, err := sdktest.Start(t, &Autoreply{}, c)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != key {
			t.Errorf("config %s: error %v, want one about %s", c, err, key)
		}
	}
}
