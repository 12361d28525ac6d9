package filter

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// clock is a settable clock: tests move time instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// serve runs a filter over real gRPC with configJSON.
func serve(t *testing.T, p *Plugin, configJSON string) *sdktest.Harness {
	t.Helper()
	if p == nil {
		p = &Plugin{}
	}
	return sdktest.New(t, p, configJSON)
}

// txnFrom is a transaction from client ip.
func txnFrom(ip, from string, rcpts ...string) *sdk.Txn {
	t := sdktest.NewTxn(from, rcpts...)
	t.Session.ClientIP = ip
	return t
}

func wantAction(t *testing.T, what string, v sdk.Verdict, want sdk.Action) {
	t.Helper()
	if v.Action != want {
		t.Fatalf("%s: action %v (reason %q), want %v", what, v.Action, v.Reason, want)
	}
}

func wantReply(t *testing.T, v sdk.Verdict, code int, enhanced, text string) {
	t.Helper()
	if v.Reply == nil || v.Reply.Code != code || v.Reply.Enhanced != enhanced || v.Reply.Text != text {
		t.Fatalf("reply %+v, want %d %s %s", v.Reply, code, enhanced, text)
	}
}

func TestDeclaresHooksAndBodyNeed(t *testing.T) {
	h := serve(t, nil, `{"rules":[{"hook":"header","match":"x","action":"reject"}]}`)
	info := h.Info()
	if info.NeedsBody {
		t.Error("header rules only: the body should not be asked for")
	}
	// No rule keeps anything of a session: no disconnect hook.
	want := []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookMail, sdk.HookRcpt, sdk.HookData}
	if strings.Join(hookNames(info.Hooks), ",") != strings.Join(hookNames(want), ",") {
		t.Errorf("hooks %v, want %v", info.Hooks, want)
	}
	h = serve(t, nil, `{"rules":[{"hook":"body","match":"x","action":"reject"}]}`)
	if !h.Info().NeedsBody {
		t.Error("a body rule needs the body")
	}
}

func hookNames(hs []sdk.Hook) []string {
	var out []string
	for _, h := range hs {
		out = append(out, string(h))
	}
	return out
}

func TestEnvelopeRulesPerHook(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"bad-net","hook":"connect","match":"^192\\.0\\.2\\.","action":"reject"},
		{"name":"dyn","hook":"connect","match":"\\.dyn\\.example$","action":"tempfail"},
		{"name":"bare-ip-helo","hook":"helo","match":"^\\[?[0-9.]+\\]?$","action":"reject","code":550,"enhanced":"5.7.1","text":"Bad HELO"},
		{"name":"spam-sender","hook":"mail","match":"(?i)@spam\\.example$","action":"reject","text":"Sender refused"},
		{"name":"null-sender-to-list","hook":"rcpt","match":"^list@","action":"discard"},
		{"name":"abuse","hook":"rcpt","match":"^abuse@","action":"quarantine"}
	]}`)
	ok := txnFrom("198.51.100.7", "alice@example.org")

	wantAction(t, "clean connect", h.Connect(ok.Session), sdk.ActionContinue)
	v := h.Connect(txnFrom("192.0.2.9", "").Session)
	wantAction(t, "connect by IP", v, sdk.ActionReject)
	wantReply(t, v, 554, "5.7.1", "Message refused by policy")
	if !strings.Contains(v.Reason, `rule "bad-net"`) {
		t.Errorf("reason %q should name the rule", v.Reason)
	}
	named := txnFrom("198.51.100.8", "")
	named.Session.ClientName = "host-8.dyn.example"
	v = h.Connect(named.Session)
	wantAction(t, "connect by name", v, sdk.ActionTempfail)
	wantReply(t, v, 451, "4.7.1", "Try again later")

	wantAction(t, "good helo", h.Helo(ok, "mx.example.org"), sdk.ActionContinue)
	v = h.Helo(ok, "[198.51.100.7]")
	wantAction(t, "bare IP helo", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.1", "Bad HELO")

	wantAction(t, "good sender", h.Mail(ok), sdk.ActionContinue)
	v = h.Mail(txnFrom("198.51.100.7", "Bob@SPAM.example"))
	wantAction(t, "spam sender", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.1", "Sender refused")

	wantAction(t, "good rcpt", h.Rcpt(ok, "bob@example.org"), sdk.ActionContinue)
	wantAction(t, "list rcpt", h.Rcpt(ok, "list@example.org"), sdk.ActionDiscard)
	wantAction(t, "abuse rcpt", h.Rcpt(ok, "abuse@example.org"), sdk.ActionQuarantine)
}

func TestFirstMatchWinsAndPassExempts(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"vip","hook":"mail","match":"^ceo@partner\\.example$","action":"pass"},
		{"name":"first","hook":"mail","match":"partner\\.example$","action":"tempfail"},
		{"name":"second","hook":"mail","match":"example$","action":"reject"}
	]}`)
	wantAction(t, "pass rule", h.Mail(txnFrom("198.51.100.7", "ceo@partner.example")), sdk.ActionContinue)
	v := h.Mail(txnFrom("198.51.100.7", "sales@partner.example"))
	wantAction(t, "first of two matching", v, sdk.ActionTempfail)
	if strings.Contains(v.Reason, "second") {
		t.Errorf("only the first rule should decide: %q", v.Reason)
	}
	wantAction(t, "second", h.Mail(txnFrom("198.51.100.7", "x@other.example")), sdk.ActionReject)
}

func TestHeaderRules(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"viagra","hook":"header","header":"Subject","match":"(?i)v[i1]agra","action":"reject"},
		{"name":"mailer","hook":"header","match":"^X-Mailer: .*BulkBlaster","action":"quarantine"}
	]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	wantAction(t, "clean", h.Data(tx, []byte("Subject: lunch\r\nX-Mailer: mutt\r\n\r\nhi\r\n")), sdk.ActionContinue)
	wantAction(t, "subject", h.Data(tx, []byte("Subject: cheap\r\n VIAGRA now\r\n\r\nhi\r\n")), sdk.ActionReject)
	// RFC 2047: "Viagra" encoded in base64.
	wantAction(t, "encoded subject", h.Data(tx, []byte("Subject: =?UTF-8?B?VmlhZ3Jh?=\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "other field named", h.Data(tx, []byte("X-Note: viagra\r\n\r\nhi\r\n")), sdk.ActionContinue)
	wantAction(t, "any field", h.Data(tx, []byte("X-Mailer: BulkBlaster 3\r\n\r\nhi\r\n")), sdk.ActionQuarantine)
}

func TestBodyRules(t *testing.T) {
	h := serve(t, nil, `{"rules":[{"name":"wire","hook":"body","match":"(?i)wire transfer to account","action":"reject"}]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	wantAction(t, "clean", h.Data(tx, []byte("Subject: x\r\n\r\nsee you\r\n")), sdk.ActionContinue)
	wantAction(t, "plain", h.Data(tx, []byte("Subject: x\r\n\r\nplease send a Wire Transfer to account 1\r\n")), sdk.ActionReject)
	qp := "Subject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nplease send a wire trans=\r\nfer to account 1\r\n"
	wantAction(t, "quoted-printable", h.Data(tx, []byte(qp)), sdk.ActionReject)
	b64 := "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"cGxlYXNlIHNlbmQgYSB3aXJlIHRyYW5zZmVy\r\nIHRvIGFjY291bnQgMQ==\r\n--b--\r\n"
	wantAction(t, "base64 part", h.Data(tx, []byte(b64)), sdk.ActionReject)
}

func TestSizeRule(t *testing.T) {
	h := serve(t, nil, `{"rules":[{"name":"big","hook":"size","min_size":100,"action":"reject","code":552,"enhanced":"5.3.4","text":"Message too big"}]}`)
	if h.Info().NeedsBody {
		t.Error("a size rule does not need the body streamed")
	}
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	wantAction(t, "small", h.Data(tx, []byte("Subject: x\r\n\r\nsmall\r\n")), sdk.ActionContinue)
	v := h.Data(tx, []byte("Subject: x\r\n\r\n"+strings.Repeat("y", 100)+"\r\n"))
	wantAction(t, "big", v, sdk.ActionReject)
	wantReply(t, v, 552, "5.3.4", "Message too big")
}

func TestAddHeaderAccumulatesAcrossHooks(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"tag-net","hook":"connect","match":"^198\\.51\\.100\\.","action":"add_header","header_name":"X-Filter","header_value":"suspect network"},
		{"name":"tag-helo","hook":"helo","match":"^localhost$","action":"add_header","header_name":"X-Filter","header_value":"helo localhost"},
		{"name":"tag-rcpt","hook":"rcpt","match":"@example\\.org$","action":"add_header","header_name":"X-Filter-Rcpt"},
		{"name":"stop-rcpt","hook":"rcpt","match":"^stop@","action":"pass"},
		{"name":"late","hook":"rcpt","match":"^stop@","action":"add_header","header_name":"X-Never"},
		{"name":"tag-subject","hook":"header","header":"Subject","match":"offer","action":"add_header","header_name":"X-Filter","header_value":"offer"},
		{"name":"hold-offer","hook":"header","header":"Subject","match":"offer","action":"quarantine"}
	]}`)
	tx := txnFrom("198.51.100.7", "a@example.net", "b@example.org", "c@example.org", "stop@example.com")
	tx.Session.Helo = "localhost"

	v := h.Connect(tx.Session)
	wantAction(t, "connect", v, sdk.ActionContinue)
	if len(v.Edits) != 0 || !strings.Contains(v.Reason, "added at data") {
		t.Errorf("connect: edits %v reason %q: the field waits for data", v.Edits, v.Reason)
	}
	wantAction(t, "rcpt", h.Rcpt(tx, "b@example.org"), sdk.ActionContinue)

	raw := []byte("Subject: special offer\r\n\r\nhi\r\n")
	v = h.Data(tx, raw)
	wantAction(t, "data", v, sdk.ActionQuarantine)
	got := string(sdktest.Apply(t, raw, v))
	want := "Subject: special offer\r\nX-Filter: suspect network\r\nX-Filter: helo localhost\r\nX-Filter-Rcpt: tag-rcpt\r\nX-Filter: offer\r\n\r\nhi\r\n"
	if got != want {
		t.Errorf("message\n%q\nwant\n%q", got, want)
	}

	// Without the connect and helo matches, only the later fields remain.
	tx2 := txnFrom("203.0.113.5", "a@example.net", "stop@example.com")
	tx2.Session.ID = "another"
	v = h.Data(tx2, []byte("Subject: hello\r\n\r\nhi\r\n"))
	wantAction(t, "data 2", v, sdk.ActionContinue)
	if len(v.Edits) != 0 {
		t.Errorf("edits %v: a pass rule before add_header must stop it", v.Edits)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"unknown key", `{"rules":[{"hook":"mail","match":"x","action":"reject","colour":"red"}]}`, "colour"},
		{"unknown hook", `{"rules":[{"hook":"quit","match":"x","action":"reject"}]}`, "unknown hook"},
		{"no hook", `{"rules":[{"match":"x","action":"reject"}]}`, "hook is required"},
		{"no condition", `{"rules":[{"hook":"mail","action":"reject"}]}`, "needs match"},
		{"bad regexp", `{"rules":[{"hook":"mail","match":"(","action":"reject"}]}`, "match"},
		{"bad filename regexp", `{"rules":[{"hook":"attachment","filenames":["["],"action":"reject"}]}`, "filenames"},
		{"unknown action", `{"rules":[{"hook":"mail","match":"x","action":"bounce"}]}`, "unknown action"},
		{"reject with 4xx", `{"rules":[{"hook":"mail","match":"x","action":"reject","code":451}]}`, "5xx"},
		{"tempfail with 5.x.x", `{"rules":[{"hook":"mail","match":"x","action":"tempfail","enhanced":"5.7.1"}]}`, "4.x.y"},
		{"text on discard", `{"rules":[{"hook":"mail","match":"x","action":"discard","text":"no"}]}`, "reject and tempfail only"},
		{"add_header without name", `{"rules":[{"hook":"mail","match":"x","action":"add_header"}]}`, "header_name"},
		{"add_header non-ASCII name", `{"rules":[{"hook":"mail","match":"x","action":"add_header","header_name":"X-Spam-Prüfung"}]}`, "header_name"},
		{"add_header NUL in value", `{"rules":[{"hook":"mail","match":"x","action":"add_header","header_name":"X-Spam","header_value":"a\u0000"}]}`, "NUL"},
		{"min_size on mail", `{"rules":[{"hook":"mail","match":"x","min_size":3,"action":"reject"}]}`, "min_size"},
		{"match on size", `{"rules":[{"hook":"size","min_size":3,"match":"x","action":"reject"}]}`, "match does not apply"},
		{"rhsbl on body", `{"rules":[{"hook":"body","match":"x","rhsbl":["dbl.example"],"action":"reject"}]}`, "rhsbl"},
		{"header rule without condition", `{"rules":[{"hook":"header","header":"From","action":"reject"}]}`, "needs match, rhsbl, missing or duplicate"},
		{"body rule without match", `{"rules":[{"hook":"body","action":"reject"}]}`, "needs match"},
		{"rhsbl on header needs header", `{"rules":[{"hook":"header","match":"x","rhsbl":["dbl.example"],"action":"reject"}]}`, "needs header"},
		{"bad zone", `{"rules":[{"hook":"connect","dnsbl":["bad zone"],"action":"reject"}]}`, "bad zone"},
		{"bad mime type", `{"rules":[{"hook":"attachment","mime_types":["exe"],"action":"reject"}]}`, "bad mime type"},
		{"duplicate name", `{"rules":[{"name":"a","hook":"mail","match":"x","action":"reject"},{"name":"a","hook":"rcpt","match":"x","action":"reject"}]}`, "duplicate"},
		{"greylist without state_dir", `{"greylist":{"enabled":true}}`, "state_dir"},
		{"greylist expiry before delay", `{"greylist":{"enabled":true,"state_dir":"/tmp/x","delay":"1h","expiry":"30m"}}`, "expiry"},
		{"greylist bad duration", `{"greylist":{"enabled":true,"state_dir":"/tmp/x","delay":"soon"}}`, "duration"},
		{"greylist bad network", `{"greylist":{"enabled":true,"state_dir":"/tmp/x","skip_networks":["nowhere"]}}`, "skip_networks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestEncodedWordsInAnyCharset: a Subject or an attachment's name encoded
// (RFC 2047) in a charset other than UTF-8 or Latin-1 reaches the rules
// decoded, as the recipient's client shows it; so does the rest of a
// field one of whose words names a charset nobody knows.
func TestEncodedWordsInAnyCharset(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"subject","hook":"header","header":"Subject","match":"(?i)виагра|特价","action":"reject"},
		{"name":"exe","hook":"attachment","filenames":["(?i)\\.exe$"],"action":"reject","text":"Executable file name"}
	]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	for what, subject := range map[string]string{
		"windows-1251": "=?windows-1251?B?5+Tl8fwg4ujg4/Dg?=", // "здесь виагра"
		"koi8-r":       "=?koi8-r?B?18nBx9LB?=",               // "виагра"
		"gb2312":       "=?gb2312?B?zNi82w==?=",               // "特价"
		"bogus first":  "=?x-no-such-charset?Q?hi?= =?utf-8?B?0LLQuNCw0LPRgNCw?=",
		// RFC 2047 §6.2: the space between adjacent words is no text.
		"bogus first, split": "=?x-no-such-charset?Q?hi?= =?utf-8?B?0LLQuA==?= =?utf-8?B?0LDQs9GA0LA=?=",
	} {
		wantAction(t, what, h.Data(tx, []byte("Subject: "+subject+"\r\n\r\nhi\r\n")), sdk.ActionReject)
	}
	wantAction(t, "innocent koi8-r", h.Data(tx, []byte("Subject: =?koi8-r?B?0NLJ18XU?=\r\n\r\nhi\r\n")), sdk.ActionContinue)

	// "invoice.exe" as a KOI8-R encoded word, as malware names it.
	att := multipartMsg("b", textPart, "Content-Type: application/octet-stream; name=\"=?koi8-r?B?aW52b2ljZS5leGU=?=\"\r\n\r\nMZ")
	v := h.Data(tx, []byte(att))
	wantAction(t, "koi8-r file name", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.1", "Executable file name")
}

// TestAnchoredHeaderRuleAndFoldedValue: a value that starts on a
// continuation line, or after extra white space, is matched as the client
// shows it, so that a rule anchored at the value's start (or after
// "Name: " for a rule on every field) matches it; every occurrence of a
// repeated field is looked at.
func TestAnchoredHeaderRuleAndFoldedValue(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"subject","hook":"header","header":"Subject","match":"(?i)^viagra","action":"reject"},
		{"name":"mailer","hook":"header","match":"^X-Mailer: BulkBlaster","action":"quarantine"}
	]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	wantAction(t, "folded before the value", h.Data(tx, []byte("Subject:\r\n Viagra now\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "tab before the value", h.Data(tx, []byte("Subject:\t\tViagra now\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "second Subject", h.Data(tx, []byte("Subject: lunch\r\nSubject: viagra\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "not at the start", h.Data(tx, []byte("Subject: cheap viagra\r\n\r\nhi\r\n")), sdk.ActionContinue)
	wantAction(t, "any field, folded", h.Data(tx, []byte("X-Mailer:\r\n\tBulkBlaster 3\r\n\r\nhi\r\n")), sdk.ActionQuarantine)
}

// TestBodyRulesReadABoundedPart: body rules read the first 512 KiB of the
// raw body and the first 64 KiB of each text part, as Postfix's
// body_checks_size_limit bounds its body_checks. Reading every byte of a
// large message with every rule ran past the stage timeout: a 43 MB
// message with a PDF attached took two case-insensitive rules over 5 s,
// and was deferred at every attempt. What lies past the bound in an
// attachment is not read; the text parts are, even after a large
// attachment.
func TestBodyRulesReadABoundedPart(t *testing.T) {
	h := serve(t, nil, `{"rules":[{"name":"wire","hook":"body","match":"(?i)wire transfer to account","action":"reject"}]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	blob := strings.Repeat("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n", 20000) // 1.5 MB
	pdf := "Content-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + blob
	raw := "Content-Type: application/octet-stream; name=data.bin\r\n\r\n" + blob + "wire transfer to account\r\n"
	wantAction(t, "past the bound, in an attachment", h.Data(tx, []byte(multipartMsg("b", textPart, raw))), sdk.ActionContinue)
	wantAction(t, "within the bound, in an attachment", h.Data(tx, []byte(multipartMsg("b", textPart, "Content-Type: application/octet-stream\r\n\r\nwire transfer to account"))), sdk.ActionReject)
	wantAction(t, "text part after a large attachment", h.Data(tx, []byte(multipartMsg("b", pdf, "Content-Type: text/plain\r\n\r\nsend a wire transfer to account 1"))), sdk.ActionReject)
	qp := "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsend a wire trans=\r\nfer to account 1"
	wantAction(t, "quoted-printable text part after a large attachment", h.Data(tx, []byte(multipartMsg("b", pdf, qp))), sdk.ActionReject)
}

// TestHeaderRuleOnEveryFieldDecodesWords: a rule without header, written
// as Postfix's header_checks are ("^Subject: .*viagra"), matched each
// field as it was sent, so an encoded Subject went past it while the
// same rule with header = "Subject" caught it. Both see the decoded text.
func TestHeaderRuleOnEveryFieldDecodesWords(t *testing.T) {
	h := serve(t, nil, `{"rules":[{"name":"subject","hook":"header","match":"(?i)^Subject: .*viagra","action":"reject"}]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	wantAction(t, "plain", h.Data(tx, []byte("Subject: cheap viagra\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "base64 word", h.Data(tx, []byte("Subject: =?utf-8?B?Y2hlYXAgVmlhZ3Jh?=\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "split Q words, folded", h.Data(tx, []byte("Subject: cheap =?iso-8859-1?Q?vi?=\r\n =?iso-8859-1?Q?agra?=\r\n\r\nhi\r\n")), sdk.ActionReject)
	wantAction(t, "other field", h.Data(tx, []byte("X-Note: =?utf-8?B?dmlhZ3Jh?=\r\n\r\nhi\r\n")), sdk.ActionContinue)
}

// TestConnectRuleOnUnknownClientName: the core gives a client without a
// verified host name the name "" (Postfix's "unknown"); a connect rule
// matched the name only when there was one, so no rule could find such
// clients. "^$" now does, as Postfix's reject_unknown_client_hostname;
// named clients, "localhost" among them, do not match it.
func TestConnectRuleOnUnknownClientName(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"no-rdns","hook":"connect","match":"^$","action":"tempfail","text":"No verified host name"},
		{"name":"tag-dyn","hook":"connect","match":"(?i)\\.dyn\\.","action":"add_header","header_name":"X-Dynamic"}
	]}`)
	nameless := txnFrom("192.0.2.7", "")
	nameless.Session.ClientName = ""
	v := h.Connect(nameless.Session)
	wantAction(t, "no name", v, sdk.ActionTempfail)
	if !strings.Contains(v.Reason, `client name "" matches ^$`) {
		t.Errorf("reason %q", v.Reason)
	}
	named := txnFrom("198.51.100.8", "")
	named.Session.ClientName = "mx.example.net"
	wantAction(t, "named", h.Connect(named.Session), sdk.ActionContinue)
	local := txnFrom("127.0.0.1", "")
	local.Session.ClientName = "localhost"
	wantAction(t, "localhost", h.Connect(local.Session), sdk.ActionContinue)
}
