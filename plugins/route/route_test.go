package route

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/tablefile"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const testConfig = `{
  "detail_separator": "+",
  "aliases": {
    "postmaster@example.org": ["alice@example.org"],
    "team@example.org": ["alice@example.org", "bob@example.org", "carol@partner.test"],
    "loop1@example.org": ["loop2@example.org"],
    "loop2@example.org": ["loop1@example.org"],
    "@catch.test": ["bob@example.org"]
  },
  "rules": [
    {"match": "old.example.org", "transport": "reject", "reply": "550 5.1.6 This domain has moved"},
    {"match": "/^trap-.*@example\\.org$/", "transport": "discard"},
    {"match": "example.org", "transport": "lmtp:unix:/run/dovecot/lmtp",
     "recipients": ["alice", "bob@example.org", "trap-1"]},
    {"match": "*.example.org", "transport": "lmtp:tcp:127.0.0.1:24"},
    {"match": "vip@partner.test", "transport": "smtp:relay.partner.test:587?tls=verify"},
    {"match": "partner.test", "transport": "smtp:relay.partner.test:25?tls=required"},
    {"match": "catch.test", "transport": "mx", "recipients": ["known"]},
    {"match": "*", "transport": "mx"}
  ]
}`

// routeOf returns the route a verdict's SetRoute gives addr, or "".
func routeOf(v sdk.Verdict, addr string) string {
	for _, e := range v.Edits {
		if sr, ok := e.(sdk.SetRoute); ok && strings.EqualFold(sr.Rcpt, addr) {
			return sr.Route
		}
	}
	return ""
}

func TestRcptRoutesByRule(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, testConfig)
	for _, tc := range []struct {
		rcpt   string
		action sdk.Action
		route  string
		reply  string
	}{
		{"alice@example.org", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"Alice+News@EXAMPLE.org", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"bob@example.org", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"mallory@example.org", sdk.ActionReject, "", "550 5.1.1"},
		{"postmaster@example.org", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"trap-1@example.org", sdk.ActionContinue, "discard", ""},
		{"anyone@lists.example.org", sdk.ActionContinue, "lmtp:tcp:127.0.0.1:24", ""},
		{"vip@partner.test", sdk.ActionContinue, "smtp:relay.partner.test:587?tls=verify", ""},
		{"other@partner.test", sdk.ActionContinue, "smtp:relay.partner.test:25?tls=required", ""},
		{"x@old.example.org", sdk.ActionReject, "", "550 5.1.6"},
		{"someone@elsewhere.test", sdk.ActionContinue, "", ""},
		{"loop1@example.org", sdk.ActionReject, "", "550 5.4.6"},
		{"stranger@catch.test", sdk.ActionContinue, "lmtp:unix:/run/dovecot/lmtp", ""},
		{"known@catch.test", sdk.ActionContinue, "", ""},
	} {
		v := h.Rcpt(sdktest.NewTxn("s@origin.test"), tc.rcpt)
		if v.Action != tc.action || routeOf(v, tc.rcpt) != tc.route {
			t.Errorf("%s: %v route %q, want %v route %q (%s)", tc.rcpt, v.Action, routeOf(v, tc.rcpt), tc.action, tc.route, v.Reason)
		}
		if tc.reply != "" && (v.Reply == nil || fmt.Sprintf("%d %s", v.Reply.Code, v.Reply.Enhanced) != tc.reply) {
			t.Errorf("%s: reply %+v, want %s", tc.rcpt, v.Reply, tc.reply)
		}
	}
}

func TestDataRewritesAliasesAndRoutesTargets(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, testConfig)
	txn := sdktest.NewTxn("s@origin.test")
	for _, a := range []string{"team@example.org", "postmaster@example.org", "alice@example.org", "stranger@catch.test", "someone@elsewhere.test"} {
		v := h.Rcpt(txn, a)
		if v.Action != sdk.ActionContinue {
			t.Fatalf("%s refused at RCPT: %s", a, v.Reason)
		}
		txn.Envelope.Rcpts = append(txn.Envelope.Rcpts, sdk.Recipient{Addr: a, Route: routeOf(v, a)})
	}
	v := h.Data(txn, []byte("Subject: hi\r\n\r\nbody\r\n"))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	var got []string
	for _, r := range txn.Envelope.Rcpts {
		got = append(got, r.Addr+" "+r.Route)
	}
	slices.Sort(got)
	want := []string{
		"alice@example.org lmtp:unix:/run/dovecot/lmtp",
		"bob@example.org lmtp:unix:/run/dovecot/lmtp",
		"carol@partner.test smtp:relay.partner.test:25?tls=required",
		"someone@elsewhere.test ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("envelope after data:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDataPassesDSNParamsToTargets: the targets of an alias get its
// ORCPT (or its own address as one) and its NOTIFY, without SUCCESS when
// there are several (RFC 3461 §5.2.7.2, §5.2.7.3 c).
func TestDataPassesDSNParamsToTargets(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{"aliases": {
		"one@example.org":  ["alice@example.org"],
		"team@example.org": ["bob@example.org", "carol@example.org"],
		"list@example.org": ["dave@example.org", "erin@example.org"],
		"x+y@example.org":  ["frank@example.org"]}}`)
	txn := sdktest.NewTxn("s@origin.test")
	for _, r := range []sdk.Recipient{
		{Addr: "one@example.org", Params: map[string]string{"NOTIFY": "SUCCESS,FAILURE"}},
		{Addr: "team@example.org", Params: map[string]string{"NOTIFY": "SUCCESS,DELAY", "ORCPT": "rfc822;x+2Bz@origin.test"}},
		{Addr: "list@example.org", Params: map[string]string{"NOTIFY": "SUCCESS"}},
		{Addr: "x+y@example.org"},
		{Addr: "grace@example.org", Params: map[string]string{"NOTIFY": "NEVER"}},
	} {
		if v := h.Rcpt(txn, r.Addr); v.Action != sdk.ActionContinue {
			t.Fatalf("%s refused at RCPT: %s", r.Addr, v.Reason)
		}
		txn.Envelope.Rcpts = append(txn.Envelope.Rcpts, r)
	}
	v := h.Data(txn, []byte("Subject: hi\r\n\r\nbody\r\n"))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	got := map[string]string{}
	for _, r := range txn.Envelope.Rcpts {
		got[r.Addr] = "NOTIFY=" + r.Params["NOTIFY"] + " ORCPT=" + r.Params["ORCPT"]
	}
	want := map[string]string{
		"alice@example.org": "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;one@example.org",
		"bob@example.org":   "NOTIFY=DELAY ORCPT=rfc822;x+2Bz@origin.test",
		"carol@example.org": "NOTIFY=DELAY ORCPT=rfc822;x+2Bz@origin.test",
		"dave@example.org":  "NOTIFY=NEVER ORCPT=rfc822;list@example.org",
		"erin@example.org":  "NOTIFY=NEVER ORCPT=rfc822;list@example.org",
		"frank@example.org": "NOTIFY= ORCPT=rfc822;x+2By@example.org",
		"grace@example.org": "NOTIFY=NEVER ORCPT=", // no alias: untouched
	}
	if !maps.Equal(got, want) {
		t.Errorf("targets' parameters:\n%v\nwant\n%v", got, want)
	}
}

func TestStripDetail(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{"detail_separator": "+-", "strip_detail": true,
		"rules": [{"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24", "recipients": ["alice"]}]}`)
	txn := sdktest.NewTxn("s@origin.test")
	if v := h.Rcpt(txn, "alice-list@example.org"); v.Action != sdk.ActionContinue {
		t.Fatalf("refused: %s", v.Reason)
	}
	txn.Envelope.Rcpts = []sdk.Recipient{{Addr: "alice-list@example.org", Route: "lmtp:tcp:127.0.0.1:24"}}
	v := h.Data(txn, []byte("Subject: hi\r\n\r\nbody\r\n"))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	if len(txn.Envelope.Rcpts) != 1 || txn.Envelope.Rcpts[0].Addr != "alice@example.org" || txn.Envelope.Rcpts[0].Route != "lmtp:tcp:127.0.0.1:24" {
		t.Fatalf("envelope %+v, want alice@example.org over LMTP", txn.Envelope.Rcpts)
	}
}

// startLMTP runs a go-smtp LMTP server that knows the users listed.
func startLMTP(t *testing.T, users ...string) string {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "lmtp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &lmtpUsers{users}, nil }))
	srv.LMTP = true
	srv.Domain = "lmtp.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

type lmtpUsers struct{ users []string }

func (l *lmtpUsers) Reset()                               {}
func (l *lmtpUsers) Logout() error                        { return nil }
func (l *lmtpUsers) Mail(string, *smtp.MailOptions) error { return nil }
func (l *lmtpUsers) Data(io.Reader) error                 { return errors.New("not in a probe") }
func (l *lmtpUsers) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "busy@example.org" {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	if !slices.Contains(l.users, to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: to + " unknown"}
	}
	return nil
}

func TestUnknownUserRefusedByLMTPProbe(t *testing.T) {
	sock := startLMTP(t, "alice@example.org")
	h := sdktest.New(t, &Plugin{}, `{"rules": [{"match": "example.org", "transport": "lmtp:unix:`+sock+`", "probe": true}]}`)
	if v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "alice@example.org"); v.Action != sdk.ActionContinue || routeOf(v, "alice@example.org") != "lmtp:unix:"+sock {
		t.Errorf("known user: %v %s", v.Action, v.Reason)
	}
	v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "nobody@example.org")
	if v.Action != sdk.ActionReject || v.Reply.Code != 550 || v.Reply.Enhanced != "5.1.1" {
		t.Errorf("unknown user: %v %+v, want 550 5.1.1 at RCPT", v.Action, v.Reply)
	}
	if v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "busy@example.org"); v.Action != sdk.ActionTempfail || v.Reply.Code != 451 {
		t.Errorf("server says later: %v %+v, want a 451 (never accept what may bounce)", v.Action, v.Reply)
	}
	os.Remove(sock)
	if v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "alice@example.org"); v.Action != sdk.ActionTempfail {
		t.Errorf("server down: %v, want tempfail", v.Action)
	}
}

func TestRecipientsFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(f, []byte("# users\nalice\nbob@example.org # the boss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := sdktest.New(t, &Plugin{}, `{"rules": [{"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24", "recipients_file": "`+f+`"}]}`)
	for addr, want := range map[string]sdk.Action{"alice@example.org": sdk.ActionContinue, "bob@example.org": sdk.ActionContinue, "eve@example.org": sdk.ActionReject} {
		if v := h.Rcpt(sdktest.NewTxn("s@origin.test"), addr); v.Action != want {
			t.Errorf("%s: %v, want %v", addr, v.Action, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []string{
		`{"rules": [{"match": "", "transport": "mx"}]}`,
		`{"rules": [{"match": "x.test"}]}`,
		`{"rules": [{"match": "x.test", "transport": "pigeon:coop"}]}`,
		`{"rules": [{"match": "x.test", "transport": "reject", "reply": "550 4.1.1 mixed"}]}`,
		`{"rules": [{"match": "x.test", "transport": "mx", "reply": "550 5.1.1 no"}]}`,
		`{"rules": [{"match": "x.test", "transport": "mx", "probe": true}]}`,
		`{"rules": [{"match": "/(/", "transport": "mx"}]}`,
		`{"rules": [{"match": "x.test", "transport": "mx", "recipients_file": "/nonexistent"}]}`,
		`{"aliases": {"nodomain": ["a@b.test"]}}`,
		`{"aliases": {"a@b.test": []}}`,
		`{"aliases": {"a@b.test": ["not-an-address"]}}`,
		`{"probe_timeout": "soon"}`,
		`{"strip_detail": true}`, // no detail_separator: it would strip nothing
		`{"colour": "blue"}`,
	} {
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err == nil {
			t.Errorf("config %s accepted", cfg)
		}
	}
}

// TestDeclaresRcptHeadersOnlyDataDeliverAndBounce: the deliver hook is
// declared only with rules, which alone decide there, and the bounce hook
// only with something to route, readdress or strip a report by
// (DeclaresHook): the core asks neither of a stage with nothing to do.
func TestDeclaresRcptHeadersOnlyDataDeliverAndBounce(t *testing.T) {
	all := []sdk.Hook{sdk.HookRcpt, sdk.HookData, sdk.HookDeliver, sdk.HookBounce}
	noDeliver := []sdk.Hook{sdk.HookRcpt, sdk.HookData, sdk.HookBounce}
	for _, tc := range []struct {
		cfg  string
		want []sdk.Hook
	}{
		{`{}`, []sdk.Hook{sdk.HookRcpt, sdk.HookData}},
		{`{"always_bcc": "archive@example.org"}`, []sdk.Hook{sdk.HookRcpt, sdk.HookData}},
		{`{"rules": [{"match": "example.org", "transport": "lmtp:unix:/run/lmtp"}]}`, all},
		{`{"aliases": {"postmaster@example.org": ["admin@example.net"]}}`, noDeliver},
		{`{"detail_separator": "+", "strip_detail": true}`, noDeliver},
	} {
		h := sdktest.New(t, &Plugin{}, tc.cfg)
		if got := h.Info().Hooks; !slices.Equal(got, tc.want) {
			t.Errorf("config %s: hooks %v, want %v", tc.cfg, got, tc.want)
		}
		if h.Info().NeedsBody {
			t.Errorf("config %s: the data hook needs no body", tc.cfg)
		}
	}
}

// TestMatchFormsAsPostfixWritesThem: ".domain" matches the subdomains, as
// in Postfix's transport_maps; a trailing dot, the case and the U-label
// or A-label form of an internationalized domain change nothing, in the
// rules, the recipients lists and the aliases alike; a regexp ignores
// case, as Postfix's regexp tables do.
func TestMatchFormsAsPostfixWritesThem(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{
	  "aliases": {"@XN--CAF-DMA.example": ["carol@example.org"]},
	  "rules": [
	    {"match": ".example.net", "transport": "smtp:sub.test:25"},
	    {"match": "Example.NET.", "transport": "smtp:apex.test:25"},
	    {"match": "bücher.example", "transport": "smtp:books.test:25"},
	    {"match": "carol@example.org.", "transport": "smtp:carol.test:25"},
	    {"match": "xn--mnchen-3ya.example", "transport": "smtp:muc.test:25", "recipients": ["anna@münchen.example"]},
	    {"match": "/^List-[a-z]+@Lists\\.example$/", "transport": "smtp:lists.test:25"}
	  ]}`)
	for _, tc := range []struct {
		rcpt   string
		action sdk.Action
		route  string
	}{
		{"bob@mx.example.net", sdk.ActionContinue, "smtp:sub.test:25"},
		{"bob@a.b.EXAMPLE.net.", sdk.ActionContinue, "smtp:sub.test:25"},
		{"bob@example.net", sdk.ActionContinue, "smtp:apex.test:25"},
		{"bob@example.net.", sdk.ActionContinue, "smtp:apex.test:25"},
		{"bob@notexample.net", sdk.ActionContinue, ""},
		{"bob@xn--bcher-kva.example", sdk.ActionContinue, "smtp:books.test:25"},
		{"bob@BÜCHER.example", sdk.ActionContinue, "smtp:books.test:25"},
		{"Carol@example.org", sdk.ActionContinue, "smtp:carol.test:25"},
		{"anna@xn--mnchen-3ya.example", sdk.ActionContinue, "smtp:muc.test:25"},
		{"anna@MÜNCHEN.example", sdk.ActionContinue, "smtp:muc.test:25"},
		{"otto@münchen.example", sdk.ActionReject, ""},
		{"anyone@café.example", sdk.ActionContinue, "smtp:carol.test:25"},    // the catch-all, to carol@
		{"list-dev@lists.example", sdk.ActionContinue, "smtp:lists.test:25"}, // a regexp written with capitals
	} {
		v := h.Rcpt(sdktest.NewTxn("s@origin.test"), tc.rcpt)
		if v.Action != tc.action || routeOf(v, tc.rcpt) != tc.route {
			t.Errorf("%s: %v route %q, want %v route %q (%s)", tc.rcpt, v.Action, routeOf(v, tc.rcpt), tc.action, tc.route, v.Reason)
		}
	}
	tx := sdktest.NewTxn("s@origin.test", "anyone@café.example")
	v := h.Data(tx, []byte("Subject: x\r\n\r\nx\r\n"))
	if routeOf(v, "carol@example.org") != "smtp:carol.test:25" {
		t.Errorf("catch-all written in A-labels for a U-label recipient: edits %v", v.Edits)
	}
}

// TestMatchThatCanMatchNothingIsAnError: a rule that no address can
// match, or a transport whose credentials or CA file is missing, stops
// Sluice at start (and check-config), instead of routing nothing or
// deferring every message of the rule.
func TestMatchThatCanMatchNothingIsAnError(t *testing.T) {
	for _, m := range []string{"@example.org", "alice@", "*@example.org", "*.", ".", "exa mple.org", "example.*", "a..example"} {
		if _, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "`+m+`", "transport": "mx"}]}`); err == nil {
			t.Errorf("match %q accepted", m)
		}
	}
	for _, tr := range []string{"smtp:relay.test:587?tls=required&authfile=/nonexistent/relay.auth", "mx?tls=verify&ca=/nonexistent/ca.pem"} {
		_, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "x.test", "transport": "`+tr+`"}]}`)
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/") {
			t.Errorf("transport %q: err = %v, want the missing file named", tr, err)
		}
	}
	auth := filepath.Join(t.TempDir(), "relay.auth")
	if err := os.WriteFile(auth, []byte("u:p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "x.test", "transport": "smtp:relay.test:587?tls=required&authfile=`+auth+`"}]}`); err != nil {
		t.Errorf("an existing authfile: %v", err)
	}
}

// TestRuleHiddenByAnEarlierOneIsAnError: the first rule that matches
// decides, so a rule after one that takes every address it would can
// never apply (Postfix's transport_maps would pick the more specific
// entry wherever written); it is refused, naming the rule that hides it.
func TestRuleHiddenByAnEarlierOneIsAnError(t *testing.T) {
	for _, tc := range []struct{ first, then string }{
		{"*", "example.org"},
		{"example.org", "alice@example.org"},
		{"example.org", "Example.ORG."},
		{".example.org", "lists.example.org"},
		{"*.example.org", "bob@a.lists.example.org"},
		{".example.org", "*.lists.example.org"},
		{"alice@example.org", "alice@example.org"},
		{"alice@example.org", "alice+news@example.org"},
		{"bücher.example", "info@xn--bcher-kva.example"},
		{"*", "/^alice@/"},
	} {
		cfg := `{"detail_separator":"+","rules":[{"match":"` + tc.first + `","transport":"mx"},{"match":"` + tc.then + `","transport":"discard"}]}`
		_, err := sdktest.Start(t, &Plugin{}, cfg)
		if err == nil || !strings.Contains(err.Error(), "rule 2") || !strings.Contains(err.Error(), "can never match") {
			t.Errorf("%q then %q: err = %v", tc.first, tc.then, err)
		}
	}
	// The specific rule first is the way to write it; and rules that
	// overlap only in part are fine.
	for _, tc := range []struct{ first, then string }{
		{"alice@example.org", "example.org"},
		{"lists.example.org", ".example.org"},
		{"example.org", ".example.org"},
		{".example.org", "example.org"},
		{"alice+news@example.org", "alice@example.org"},
		{"/^alice@/", "alice@example.org"},
		{"example.org", "/^alice@example\\\\.org$/"},
		{"example.org", "*"},
	} {
		cfg := `{"detail_separator":"+","rules":[{"match":"` + tc.first + `","transport":"mx"},{"match":"` + tc.then + `","transport":"discard"}]}`
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err != nil {
			t.Errorf("%q then %q: %v", tc.first, tc.then, err)
		}
	}
}

// Two alias keys that are one address once compared (case, trailing dot,
// IDN form) are an error: which one's targets won depended on Go's map
// order, and changed from start to start.
func TestAliasKeysOfOneAddressAreAnError(t *testing.T) {
	for _, pair := range [][2]string{
		{"info@example.org", "INFO@example.org."},
		{"info@bücher.example", "info@xn--bcher-kva.example"},
	} {
		cfg := `{"aliases":{"` + pair[0] + `":["alice@example.org"],"` + pair[1] + `":["mallory@example.net"]}}`
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err == nil || !strings.Contains(err.Error(), "the same address as another alias key") {
			t.Errorf("%q and %q: err = %v", pair[0], pair[1], err)
		}
	}
}

// A transport's relative authfile= or ca= is relative to the config file,
// the directory the plugin runs in; the route carries it absolute, since
// delivery reads it from the daemon's own directory (/ under systemd).
func TestTransportFilesMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "partner.auth"), []byte("u:p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	h, err := sdktest.Start(t, &Plugin{}, `{"rules":[{"match":"partner.example","transport":"smtp:relay.partner.example:587?authfile=partner.auth"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "x@partner.example")
	want := "authfile=" + url.QueryEscape(filepath.Join(dir, "partner.auth"))
	if got := routeOf(v, "x@partner.example"); !strings.Contains(got, want) {
		t.Errorf("route %q, want the authfile absolute (%s)", got, want)
	}
}

// The postmaster of a domain a rule serves is accepted at RCPT whether
// the rule lists it or not, in any case, and without asking a probed
// server (RFC 5321 §4.5.1: it MUST be); a reject rule's domain is not
// served, and refuses it.
func TestPostmasterAlwaysAccepted(t *testing.T) {
	sock := startLMTP(t, "alice@lists.example.org")
	h := sdktest.New(t, &Plugin{}, `{"rules": [
		{"match": "old.example.org", "transport": "reject"},
		{"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24", "recipients": ["alice"]},
		{"match": "lists.example.org", "transport": "lmtp:unix:`+sock+`", "probe": true}]}`)
	for _, tc := range []struct {
		rcpt   string
		action sdk.Action
	}{
		{"postmaster@example.org", sdk.ActionContinue},
		{"PostMaster@Example.ORG", sdk.ActionContinue},
		{"postmaster@lists.example.org", sdk.ActionContinue},
		{"mallory@example.org", sdk.ActionReject},
		{"nobody@lists.example.org", sdk.ActionReject},
		{"postmaster@old.example.org", sdk.ActionReject},
	} {
		if v := h.Rcpt(sdktest.NewTxn("s@origin.test"), tc.rcpt); v.Action != tc.action {
			t.Errorf("%s: %v, want %v (%s)", tc.rcpt, v.Action, tc.action, v.Reason)
		}
	}
}

// A recipients_file is read again when it changes, as a reload keeps the
// plugin of an unchanged [stage.config]: renamed over at once, written in
// place once left alone for tablefile.Settle (half written, it would
// refuse the users not yet written); a file that goes missing or stops
// parsing while running leaves the list read before in force, the
// refusal's reason says why and one warning names the file.
func TestRecipientsFileReadAgainWhenChanged(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "users")
	replace := func(content string) {
		t.Helper()
		tmp := filepath.Join(dir, "users.new")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
	}
	replace("alice\n")
	clock := &fileClock{}
	lines := &logLines{}
	h := sdktest.New(t, &Plugin{log: slog.New(slog.NewJSONHandler(lines, nil)), fileNow: clock.now},
		`{"rules": [{"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24", "recipients_file": "`+f+`"}]}`)
	rcpt := func(addr string) sdk.Verdict { return h.Rcpt(sdktest.NewTxn("s@origin.test"), addr) }
	if v := rcpt("eve@example.org"); v.Action != sdk.ActionReject {
		t.Fatalf("eve before she is listed: %v", v.Action)
	}
	replace("alice\neve\n")
	if v := rcpt("eve@example.org"); v.Action != sdk.ActionContinue {
		t.Fatalf("eve once listed: %v (%s)", v.Action, v.Reason)
	}
	// Written in place, same inode: the size and time tell, once the
	// file was left alone for Settle.
	mtime := writeInPlace(t, f, "eve\n")
	clock.set(mtime.Add(tablefile.Settle - time.Millisecond))
	if v := rcpt("alice@example.org"); v.Action != sdk.ActionContinue {
		t.Fatalf("alice taken out by a file written in place just now: %v", v.Action)
	}
	clock.set(mtime.Add(tablefile.Settle))
	if v := rcpt("alice@example.org"); v.Action != sdk.ActionReject {
		t.Fatalf("alice once taken out: %v", v.Action)
	}
	replace("eve\nbob@example.org OK\n")
	if v := rcpt("eve@example.org"); v.Action != sdk.ActionContinue {
		t.Errorf("eve after a bad edit: %v, want the list before in force", v.Action)
	}
	if v := rcpt("bob@example.org"); v.Action != sdk.ActionReject || !strings.Contains(v.Reason, f+":2:") {
		t.Errorf("bob after a bad edit: %v (%s), want refused, the reason naming %s:2", v.Action, v.Reason, f)
	}
	if recs := lines.Take(t); len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["file"] != f || !strings.Contains(fmt.Sprint(recs[0]["error"]), f+":2:") {
		t.Errorf("bad edit: log %v, want one warning naming %s:2", recs, f)
	}
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	if v := rcpt("eve@example.org"); v.Action != sdk.ActionContinue {
		t.Errorf("eve with the file gone: %v, want the list before in force", v.Action)
	}
	// A file appearing where one was found missing may be being
	// written there: it settles too.
	replace("alice\n")
	st, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	clock.set(st.ModTime().Add(tablefile.Settle))
	if v := rcpt("alice@example.org"); v.Action != sdk.ActionContinue {
		t.Errorf("alice with the file back: %v (%s)", v.Action, v.Reason)
	}
}

// An entry no recipient can match is an error at start, with the file and
// line: a list taken from a Postfix map would otherwise refuse everyone.
func TestRecipientsEntryThatMatchesNothingIsAnError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "users")
	for _, tc := range []struct{ file, want string }{
		{"alice\nbob@example.org OK\n", f + `:2: "bob@example.org OK"`},
		{"# Postfix relay_recipient_maps\n@example.org\tOK\n", f + `:2: "@example.org\tOK"`},
		{"alice@\n", f + `:1: "alice@" has no domain`},
	} {
		if err := os.WriteFile(f, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "example.org", "transport": "mx", "recipients_file": "`+f+`"}]}`)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("file %q: err = %v, want %q", tc.file, err, tc.want)
		}
	}
	for _, e := range []string{"@example.org", "", "alice OK"} {
		if _, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "example.org", "transport": "mx", "recipients": ["`+e+`"]}]}`); err == nil {
			t.Errorf("recipients entry %q accepted", e)
		}
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "example.org", "transport": "mx", "recipients": ["\"a b\"@example.org"]}]}`); err != nil {
		t.Errorf("a quoted local part with a space: %v", err)
	}
}

// A relative lmtp:unix: socket is relative to the config file, where the
// plugin runs and probes; the route carries it absolute, as delivery
// dials it from the daemon's own directory.
func TestRelativeLMTPSocketMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	h := sdktest.New(t, &Plugin{}, `{"rules":[{"match":"example.org","transport":"lmtp:unix:run/lmtp.sock"}]}`)
	v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "x@example.org")
	if got, want := routeOf(v, "x@example.org"), "lmtp:unix:"+filepath.Join(dir, "run", "lmtp.sock"); got != want {
		t.Errorf("route %q, want %q", got, want)
	}
}

// A mistake in an alias names the aliases key, so that check-config
// shows it at that table's line (sdk.ConfigError.Key) rather than at
// [stage.config].
func TestAliasErrorsNameTheAliasesKey(t *testing.T) {
	for _, cfg := range []string{
		`{"aliases": {"nodomain": ["a@b.test"]}}`,
		`{"aliases": {"a@b.test": []}}`,
		`{"aliases": {"a@b.test": ["not-an-address"]}}`,
		`{"aliases": {"a@b.test": ["c@b.test"], "A@B.test.": ["d@b.test"]}}`,
	} {
		_, err := sdktest.Start(t, &Plugin{}, cfg)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != "aliases" {
			t.Errorf("config %s: err %v, want a ConfigError naming aliases", cfg, err)
		}
	}
}
