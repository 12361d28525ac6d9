package dmarc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.xml")

// reportDNS serves the policies of the report tests: domains that ask for
// reports at home, at an external destination that agrees
// (ext.test._report._dmarc.reports.example) or one that does not.
func reportDNS(t *testing.T) *testlib.DNS {
	t.Helper()
	d := testlib.NewDNS(t,
		`_dmarc.example.org. 60 IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org"`,
		`_dmarc.quar.test. 60 IN TXT "v=DMARC1; p=quarantine"`,
		`_dmarc.ext.test. 60 IN TXT "v=DMARC1; p=quarantine; pct=50; aspf=s; fo=1; rua=mailto:agg@reports.example,mailto:own@ext.test"`,
		`ext.test._report._dmarc.reports.example. 60 IN TXT "v=DMARC1"`,
		`_dmarc.noauth.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:agg@reports.example, https://r.example/x"`,
		`_dmarc.big.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:small@big.test!1k, mailto:large@big.test!10m"`,
		`_dmarc.tmp.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:agg@reports.example, mailto:me@tmp.test"`,
	)
	d.Fail("_dmarc.broken.test")
	d.Fail("tmp.test._report._dmarc.reports.example")
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	return d
}

// recMailer records what the plugin queues; its first fail calls fail.
type recMailer struct {
	mu   sync.Mutex
	fail map[int]bool // by call number, from 1
	n    int
	sent []sdk.OutgoingMessage
	got  chan struct{}
}

func newRecMailer() *recMailer { return &recMailer{fail: map[int]bool{}, got: make(chan struct{}, 16)} }

func (m *recMailer) Send(_ context.Context, msg sdk.OutgoingMessage) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	if m.fail[m.n] {
		return "", errors.New("disk full")
	}
	m.sent = append(m.sent, msg)
	select {
	case m.got <- struct{}{}:
	default:
	}
	return "Q" + string(rune('0'+len(m.sent))), nil
}

func (m *recMailer) messages() []sdk.OutgoingMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sdk.OutgoingMessage(nil), m.sent...)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// day0 is the UTC day the tests' mail arrives on.
var day0 = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)

const reportsTable = `"reports": {"org_name": "Receiver & <Co>", "email": "dmarc@rcpt.example", "extra_contact_info": "https://rcpt.example/dmarc"}`

// reportingPlugin configures a dmarc stage with reports on, state in dir,
// the clock at noon of day0 and a send delay of one hour.
func reportingPlugin(t *testing.T, dir string, m sdk.Mailer, clock *fakeClock, cfg string, loop bool) *Plugin {
	t.Helper()
	if cfg == "" {
		cfg = "{" + reportsTable + "}"
	}
	p := &Plugin{IntN: func(int) int { return 99 }, Clock: clock.now, Rand: func() float64 { return 0.5 }, noLoop: !loop}
	if err := p.Configure(context.Background(), sdk.Config{Stage: "dmarc", JSON: []byte(cfg), Mailer: m, StateDir: dir}); err != nil {
		t.Fatal(err)
	}
	if p.stopReports != nil {
		t.Cleanup(p.stopReports)
	}
	return p
}

// deliver runs one message through the data hook.
func deliver(t *testing.T, p *Plugin, ip, mailFrom, from string, auth ...sdk.AuthResult) sdk.Verdict {
	t.Helper()
	txn := sdktest.NewTxn(mailFrom, "bob@example.net")
	txn.Session.ClientIP, txn.Session.Helo = ip, "mx.sender.test"
	txn.AuthResults = auth
	m, err := sdktest.ParseMessage(msgFrom(from))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Data(context.Background(), txn, m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readHistory(t *testing.T, dir string, day time.Time) []historyRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "history-"+day.Format(dayLayout)+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []historyRow
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r historyRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("history line %q: %v", l, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestReportHistory: each evaluation of a domain whose record has a rua=
// is one history line of the day, with what the report needs; a domain
// without rua=, one whose record could not be fetched and a skipped
// client write none.
func TestReportHistory(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, newRecMailer(), clock, "", false)

	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	deliver(t, p, "::ffff:192.0.2.25", "a@example.org", "a@example.org")
	deliver(t, p, "2001:db8::1", "", "a@example.org", dkimRes("pass", "example.org"), spfHelo("mx.sender.test"))
	deliver(t, p, "192.0.2.25", "a@quar.test", "a@quar.test")                          // no rua
	deliver(t, p, "192.0.2.25", "a@broken.test", "a@broken.test")                      // no record
	deliver(t, p, "127.0.0.1", "a@example.org", "a@example.org")                       // skipped
	deliver(t, p, "192.0.2.26", "x@sender.test", "a@ext.test", spf("x@mail.ext.test")) // aspf=s: not aligned; pct=50 sampled out

	rows := readHistory(t, dir, day0)
	if len(rows) != 4 {
		t.Fatalf("%d history lines, want 4: %+v", len(rows), rows)
	}
	pub := policyPublished{Domain: "example.org", ADKIM: "r", ASPF: "r", P: PolicyReject, SP: PolicyQuarantine, Pct: 100, FO: "0"}
	r := rows[0]
	if r.SourceIP != "192.0.2.25" || r.HeaderFrom != "example.org" || r.EnvelopeFrom != "example.org" || r.EnvelopeTo != "example.net" ||
		r.Policy != pub || strings.Join(r.RUA, ",") != "mailto:d@example.org" ||
		r.Disposition != PolicyReject || r.DKIM != ResultFail || r.SPF != ResultFail || len(r.Reasons) != 0 ||
		len(r.SPFResults) != 1 || r.SPFResults[0] != (spfResult{"example.org", "mfrom", "none"}) {
		t.Errorf("first line %+v", r)
	}
	if b, _ := json.Marshal(rows[1]); string(b) != func() string { b, _ := json.Marshal(rows[0]); return string(b) }() {
		t.Errorf("an IPv4-mapped client is the IPv4 one: %s", b)
	}
	r = rows[2]
	if r.SourceIP != "2001:db8:0:0:0:0:0:1" || r.EnvelopeFrom != "mx.sender.test" || r.Disposition != PolicyNone || r.DKIM != ResultPass || r.SPF != ResultFail ||
		len(r.DKIMResults) != 1 || r.DKIMResults[0] != (dkimResult{"example.org", "s1", "pass"}) ||
		len(r.SPFResults) != 1 || r.SPFResults[0] != (spfResult{"mx.sender.test", "helo", "pass"}) {
		t.Errorf("pass line %+v", r)
	}
	r = rows[3]
	if r.Policy.Domain != "ext.test" || r.Policy.ASPF != "s" || r.Policy.Pct != 50 || r.Policy.FO != "1" || r.Policy.SP != PolicyQuarantine ||
		r.Disposition != PolicyNone || r.SPF != ResultFail || len(r.Reasons) != 1 || r.Reasons[0].Type != "sampled_out" {
		t.Errorf("sampled out line %+v", r)
	}

	// A local override is reported as such; an aligned temperror left to
	// tempfail is not recorded (its retry will be).
	dir2 := t.TempDir()
	p2 := reportingPlugin(t, dir2, newRecMailer(), clock, `{"reject": false, `+reportsTable+`}`, false)
	deliver(t, p2, "192.0.2.25", "a@example.org", "a@example.org")
	if v := deliver(t, p2, "192.0.2.25", "a@example.org", "a@example.org", dkimRes("temperror", "example.org")); v.Action != sdk.ActionTempfail {
		t.Fatalf("temperror: %v", v.Action)
	}
	rows = readHistory(t, dir2, day0)
	if len(rows) != 1 || rows[0].Disposition != PolicyQuarantine || len(rows[0].Reasons) != 1 || rows[0].Reasons[0] != (overrideReason{"local_policy", "reject = false"}) {
		t.Errorf("reject = false: %+v", rows)
	}

	// Reports off: no history.
	dir3 := t.TempDir()
	p3 := reportingPlugin(t, dir3, newRecMailer(), clock, `{}`, false)
	deliver(t, p3, "192.0.2.25", "a@example.org", "a@example.org")
	if names, _ := filepath.Glob(filepath.Join(dir3, "*")); len(names) != 0 {
		t.Errorf("reports off wrote %v", names)
	}
}

// TestReportAggregate: two identical evaluations and a different one are
// two records, counted 2 and 1, in a report that parses back with the
// metadata, the policy and the escaped names. The XML is the golden
// file tests/interop validates against RFC 7489's schema with xmllint.
func TestReportAggregate(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, newRecMailer(), clock, "", false)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	deliver(t, p, "2001:db8::1", "", "a@example.org", dkimRes("pass", "example.org"), dkimRes("fail", "other.test"), spfHelo("mx.sender.test"))
	rows := readHistory(t, dir, day0)
	// A local override, as reject = false writes it.
	over := rows[0]
	over.SourceIP, over.Disposition, over.Reasons = "198.51.100.7", PolicyQuarantine, []overrideReason{{"local_policy", "reject = false"}}
	rows = append(rows, over)
	var ptrs []*historyRow
	for i := range rows {
		ptrs = append(ptrs, &rows[i])
	}
	p.reports.cfg.idKey = "00000000000000000000000000000000" // the golden file's
	rep := aggregate(p.reports.cfg, "example.org", day0, ptrs)
	b, err := rep.xmlBytes()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.xml")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || !bytes.Equal(b, want) {
		t.Errorf("report differs from %s (go test -run TestReportAggregate -update to rewrite it): %v\n%s", golden, err, b)
	}
	if !bytes.Contains(b, []byte("<org_name>Receiver &amp; &lt;Co&gt;</org_name>")) {
		t.Errorf("org_name not escaped:\n%s", b)
	}
	var f feedback
	if err := xml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	md := f.Metadata
	if md.OrgName != "Receiver & <Co>" || md.Email != "dmarc@rcpt.example" || md.ExtraContactInfo != "https://rcpt.example/dmarc" ||
		md.Begin != day0.Unix() || md.End != day0.Unix()+86399 || !strings.HasSuffix(md.ReportID, "@rcpt.example") {
		t.Errorf("metadata %+v", md)
	}
	if f.Policy.Domain != "example.org" || f.Policy.P != PolicyReject || f.Policy.SP != PolicyQuarantine || f.Policy.Pct != 100 {
		t.Errorf("policy_published %+v", f.Policy)
	}
	if len(f.Records) != 3 || f.Records[0].Row.Count != 2 || f.Records[1].Row.Count != 1 || f.Records[2].Row.Count != 1 {
		t.Fatalf("records %+v, want counts 2, 1 and 1", f.Records)
	}
	if r := f.Records[2].Row.Evaluated; r.Disposition != PolicyQuarantine || len(r.Reasons) != 1 || r.Reasons[0].Type != "local_policy" {
		t.Errorf("override record %+v", r)
	}
	r0, r1 := f.Records[0], f.Records[1]
	if r0.Row.SourceIP != "192.0.2.25" || r0.Row.Evaluated.Disposition != PolicyReject || r0.Identifiers.HeaderFrom != "example.org" || len(r0.AuthResults.SPF) != 1 {
		t.Errorf("first record %+v", r0)
	}
	if r1.Row.Evaluated.DKIM != ResultPass || len(r1.AuthResults.DKIM) != 2 || r1.AuthResults.DKIM[1].Result != "fail" {
		t.Errorf("second record %+v", r1)
	}
	if again := aggregate(p.reports.cfg, "example.org", day0, ptrs); again.feedback.Metadata.ReportID != md.ReportID {
		t.Errorf("report id not stable: %s, %s", md.ReportID, again.feedback.Metadata.ReportID)
	}
}

// TestReportDestinations: an address in the policy domain's own
// organizational domain is taken as is; another only when its domain
// publishes POLICYDOMAIN._report._dmarc.ITS-DOMAIN (RFC 7489 §7.1); a DNS
// failure is an error, to retry.
func TestReportDestinations(t *testing.T) {
	reportDNS(t)
	res, err := dnsresolve.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		policy, addr string
		ok, fail     bool
	}{
		{"example.org", "d@example.org", true, false},
		{"sub.example.org", "d@reports.example.org", true, false},
		{"ext.test", "agg@reports.example", true, false},
		{"noauth.test", "agg@reports.example", false, false},
		{"tmp.test", "agg@reports.example", false, true},
	} {
		ok, err := verifyDest(context.Background(), res, tc.policy, ruaDest{addr: tc.addr})
		if ok != tc.ok || (err != nil) != tc.fail || (err != nil && !dnsresolve.IsTemporary(err)) {
			t.Errorf("%s → %s: %v %v, want %v (error %v)", tc.policy, tc.addr, ok, err, tc.ok, tc.fail)
		}
	}
}

func TestParseRUA(t *testing.T) {
	dests, ignored := parseRUA([]string{
		"mailto:a@example.org!10m", "mailto:a@EXAMPLE.org", "https://r.example/x", "mailto:b@x.test!1k",
		"mailto:c%40d@x.test", "mailto:nobody", "mailto:c@x.test!2", "mailto:d@x.test", "mailto:a%00b@x.test", "mailto:a(b@x.test",
		"mailto:e@x.test", "mailto:f@x.test",
	})
	var got []string
	for _, d := range dests {
		got = append(got, d.addr+"/"+itoa(d.limit))
	}
	if want := "a@example.org/10485760 b@x.test/1024 c@x.test/2 d@x.test/0 e@x.test/0"; strings.Join(got, " ") != want {
		t.Errorf("dests %v, want %s", got, want)
	}
	// c%40d (a second "@"), a%00b (a NUL) and a(b are no mailboxes.
	if len(ignored) != 6 || !strings.Contains(ignored[0], "not a mailto") || !strings.Contains(ignored[1], "not an address") ||
		!strings.Contains(ignored[3], "a%00b@x.test: not an address") || !strings.Contains(ignored[4], "a(b@x.test: not an address") ||
		!strings.Contains(ignored[5], "over the limit") {
		t.Errorf("ignored %q", ignored)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// report is one queued report, taken apart.
type sentReport struct {
	msg      sdk.OutgoingMessage
	header   mail.Header
	filename string
	feedback feedback
}

func openReport(t *testing.T, m sdk.OutgoingMessage) sentReport {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Message))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	s := sentReport{msg: m, header: msg.Header}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if part.Header.Get("Content-Type") == "text/plain; charset=us-ascii" {
			continue
		}
		if ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct != "application/gzip" {
			t.Fatalf("part %q", part.Header.Get("Content-Type"))
		}
		s.filename = part.FileName()
		zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatal(err)
		}
		x, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(x, &s.feedback); err != nil {
			t.Fatalf("%v\n%s", err, x)
		}
	}
	return s
}

// TestReportSend: once the day is over and the delay past, each policy
// domain's report is queued once, from the null sender to its verified
// destinations, with RFC 7489 §7.2.1.1's Subject and file name; the day's
// files are then removed, and the next pass sends nothing.
func TestReportSend(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	m := newRecMailer()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	deliver(t, p, "192.0.2.26", "a@example.org", "a@example.org", spf("a@example.org"))
	deliver(t, p, "192.0.2.27", "a@ext.test", "a@ext.test", spf("a@ext.test"))
	deliver(t, p, "192.0.2.28", "a@noauth.test", "a@noauth.test")
	deliver(t, p, "192.0.2.29", "a@big.test", "a@big.test")

	// The day is not over, then not by the delay (Rand 0.5: one hour).
	for _, at := range []time.Time{day0.Add(23 * time.Hour), day0.Add(24*time.Hour + 59*time.Minute)} {
		clock.set(at)
		if next := p.reports.pass(context.Background()); !next.Equal(day0.Add(25 * time.Hour)) {
			t.Errorf("at %v: next pass %v, want %v", at, next, day0.Add(25*time.Hour))
		}
		if n := len(m.messages()); n != 0 {
			t.Fatalf("at %v: %d reports sent before time", at, n)
		}
	}
	clock.set(day0.Add(25 * time.Hour))
	p.reports.pass(context.Background())
	sent := m.messages()
	if len(sent) != 3 {
		t.Fatalf("%d reports, want 3 (example.org, ext.test, big.test; noauth.test's destination is refused)", len(sent))
	}
	begin, end := "1741910400", "1741996799"
	for i, want := range []struct{ domain, to string }{
		{"example.org", "d@example.org"}, {"ext.test", "agg@reports.example own@ext.test"}, {"big.test", "large@big.test"},
	} {
		s := openReport(t, sent[i])
		if s.msg.From != "" || strings.Join(s.msg.To, " ") != want.to {
			t.Errorf("%s: envelope from %q to %v, want <> to %s", want.domain, s.msg.From, s.msg.To, want.to)
		}
		id := s.feedback.Metadata.ReportID
		subject := strings.Join(strings.Fields(s.header.Get("Subject")), " ")
		if wantSubj := "Report Domain: " + want.domain + " Submitter: rcpt.example Report-ID: <" + id + ">"; subject != wantSubj {
			t.Errorf("Subject %q, want %q", subject, wantSubj)
		}
		if wantName := "rcpt.example!" + want.domain + "!" + begin + "!" + end + ".xml.gz"; s.filename != wantName {
			t.Errorf("file name %q, want %q", s.filename, wantName)
		}
		if s.header.Get("From") != "<dmarc@rcpt.example>" || s.header.Get("Auto-Submitted") != "auto-generated" || s.header.Get("Message-Id") == "" || s.header.Get("Date") == "" {
			t.Errorf("%s: header %v", want.domain, s.header)
		}
		if s.feedback.Policy.Domain != want.domain {
			t.Errorf("report for %s about %s", want.domain, s.feedback.Policy.Domain)
		}
		if want.domain == "example.org" && (len(s.feedback.Records) != 2 || s.feedback.Records[0].Row.Count != 2) {
			t.Errorf("example.org records %+v", s.feedback.Records)
		}
	}
	if names := leftFiles(dir); len(names) != 0 {
		t.Errorf("files left after the day was sent: %v", names)
	}
	clock.set(day0.Add(30 * time.Hour))
	p.reports.pass(context.Background())
	if n := len(m.messages()); n != 3 {
		t.Errorf("second pass: %d reports in all, want the 3 of the first", n)
	}
}

// TestReportSendRetry: a Send that fails is retried later, the domains
// already sent are not sent again (the progress file), and after
// reportTries failures the report is dropped.
func TestReportSendRetry(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	m := newRecMailer()
	m.fail[2] = true // ext.test's first attempt
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	deliver(t, p, "192.0.2.27", "a@ext.test", "a@ext.test")

	at := day0.Add(25 * time.Hour)
	clock.set(at)
	if next := p.reports.pass(context.Background()); !next.Equal(at.Add(reportRetry[0])) {
		t.Errorf("next pass %v, want the retry at %v", next, at.Add(reportRetry[0]))
	}
	if got := m.messages(); len(got) != 1 || openReport(t, got[0]).feedback.Policy.Domain != "example.org" {
		t.Fatalf("first pass sent %d", len(got))
	}
	clock.set(at.Add(10 * time.Minute)) // before the retry: nothing
	p.reports.pass(context.Background())
	if n := len(m.messages()); n != 1 {
		t.Fatalf("%d reports before the retry is due", n)
	}
	// A restart in between: a new process reads the progress file.
	p = reportingPlugin(t, dir, m, clock, "", false)
	clock.set(at.Add(reportRetry[0]))
	p.reports.pass(context.Background())
	got := m.messages()
	if len(got) != 2 || openReport(t, got[1]).feedback.Policy.Domain != "ext.test" {
		t.Fatalf("after the retry: %d reports, want example.org once and ext.test", len(got))
	}
	if names := leftFiles(dir); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}

	// Failing every time: dropped after reportTries attempts.
	dir = t.TempDir()
	m = newRecMailer()
	for i := 1; i <= reportTries; i++ {
		m.fail[i] = true
	}
	clock.set(day0.Add(12 * time.Hour))
	p = reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	clock.set(at)
	for i := 0; i < reportTries+2; i++ {
		next := p.reports.pass(context.Background())
		clock.set(next)
	}
	if m.n != reportTries || len(m.messages()) != 0 {
		t.Errorf("%d attempts, %d sent; want %d attempts", m.n, len(m.messages()), reportTries)
	}
	if names := leftFiles(dir); len(names) != 0 {
		t.Errorf("files left after the report was dropped: %v", names)
	}
}

// TestReportDNSRetry: a destination whose authorization cannot be looked
// up holds the report for a retry; once the tries are spent the report
// goes to the other destinations.
func TestReportDNSRetry(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	m := newRecMailer()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@tmp.test", "a@tmp.test")
	clock.set(day0.Add(25 * time.Hour))
	for i := 0; i < reportTries-1; i++ {
		next := p.reports.pass(context.Background())
		if len(m.messages()) != 0 {
			t.Fatalf("attempt %d: sent despite the DNS failure", i+1)
		}
		if !next.Equal(clock.now().Add(reportRetry[i])) {
			t.Fatalf("attempt %d: next %v", i+1, next)
		}
		clock.set(next)
	}
	p.reports.pass(context.Background())
	if got := m.messages(); len(got) != 1 || strings.Join(got[0].To, ",") != "me@tmp.test" {
		t.Fatalf("after the last try: %+v, want one report to me@tmp.test", got)
	}
}

// TestReportOldHistoryDropped: a history older than reportKeepDays is
// removed unsent.
func TestReportOldHistoryDropped(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	m := newRecMailer()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	clock.set(day0.AddDate(0, 0, reportKeepDays+1).Add(3 * time.Hour))
	p.reports.pass(context.Background())
	if len(m.messages()) != 0 {
		t.Error("an old history was sent")
	}
	if names := leftFiles(dir); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}
}

// TestReportLoop: Configure starts the sender, which sends a day that is
// due without being asked, once the first message says the core runs.
func TestReportLoop(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	line := `{"ip":"192.0.2.25","header_from":"example.org","envelope_from":"example.org","policy":{"domain":"example.org","adkim":"r","aspf":"r","p":"reject","sp":"reject","pct":100,"fo":"0"},"rua":["mailto:d@example.org"],"disposition":"reject","dkim":"fail","spf":"fail","spf_results":[{"domain":"example.org","scope":"mfrom","result":"none"}]}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "history-"+day0.Format(dayLayout)+".jsonl"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	m := newRecMailer()
	p := reportingPlugin(t, dir, m, &fakeClock{t: day0.Add(26 * time.Hour)}, "", true)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org") // the core runs: the first pass goes
	select {
	case <-m.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the sender sent nothing")
	}
}

// TestReportConfig: bad values are refused at Configure naming the key;
// reports need a state directory, except in a dry run.
func TestReportConfig(t *testing.T) {
	reportDNS(t)
	for _, tc := range []struct{ cfg, key string }{
		{`{"reports": {"email": "d@x.test"}}`, "reports.org_name"},
		{`{"reports": {"org_name": "X", "email": "X <d@x.test>"}}`, "reports.email"},
		{`{"reports": {"org_name": "X"}}`, "reports.email"},
		{`{"reports": {"org_name": "X", "email": "d@x.test", "submitter": "a b"}}`, "reports.submitter"},
		{`{"reports": {"org_name": "X", "email": "d@x.test", "extra_contact_info": "a\nb"}}`, "reports.extra_contact_info"},
		{`{"reports": {"org_name": "X", "email": "d@x.test", "max_history_bytes": -1}}`, "reports.max_history_bytes"},
	} {
		err := (&Plugin{}).Configure(context.Background(), sdk.Config{JSON: []byte(tc.cfg), StateDir: t.TempDir()})
		if err == nil {
			t.Errorf("%s accepted", tc.cfg)
			continue
		}
		if k := (&sdk.ConfigError{Msg: err.Error()}).Key(); k != tc.key {
			t.Errorf("%s: %v names key %q, want %q", tc.cfg, err, k, tc.key)
		}
	}
	ok := `{"reports": {"org_name": "X", "email": "d@x.test"}}`
	if err := (&Plugin{}).Configure(context.Background(), sdk.Config{JSON: []byte(ok)}); err == nil || !strings.Contains(err.Error(), "state directory") {
		t.Errorf("no state directory: %v", err)
	}
	if err := (&Plugin{}).Configure(context.Background(), sdk.Config{JSON: []byte(`{"reports": {"enabled": false}}`)}); err != nil {
		t.Errorf("reports off: %v", err)
	}
	t.Setenv(sdk.EnvDryRun, "1")
	p := &Plugin{}
	if err := p.Configure(context.Background(), sdk.Config{JSON: []byte(ok)}); err != nil || p.reports != nil {
		t.Errorf("dry run: %v, reporter %v", err, p.reports)
	}
}
