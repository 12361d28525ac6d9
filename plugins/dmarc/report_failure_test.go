package dmarc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// failureDNS serves the policies of the failure report tests: one domain
// per fo= option, one without ruf=, external destinations that do and do
// not take the reports, and a "!size" limit.
func failureDNS(t *testing.T) {
	t.Helper()
	d := testlib.NewDNS(t,
		`_dmarc.fo0.test. 60 IN TXT "v=DMARC1; p=reject; ruf=mailto:ruf@fo0.test"`,
		`_dmarc.fo1.test. 60 IN TXT "v=DMARC1; p=none; fo=1; ruf=mailto:ruf@fo1.test"`,
		`_dmarc.fod.test. 60 IN TXT "v=DMARC1; p=none; fo=d; ruf=mailto:ruf@fod.test"`,
		`_dmarc.fos.test. 60 IN TXT "v=DMARC1; p=none; fo=s; ruf=mailto:ruf@fos.test"`,
		`_dmarc.noruf.test. 60 IN TXT "v=DMARC1; p=reject; rua=mailto:agg@noruf.test"`,
		`_dmarc.ext.test. 60 IN TXT "v=DMARC1; p=none; ruf=mailto:f@reports.example"`,
		`_dmarc.extok.test. 60 IN TXT "v=DMARC1; p=none; ruf=mailto:f@reports.example"`,
		`extok.test._report._dmarc.reports.example. 60 IN TXT "v=DMARC1"`,
		`_dmarc.small.test. 60 IN TXT "v=DMARC1; p=none; ruf=mailto:tiny@small.test!200, mailto:big@small.test"`,
	)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
}

const failureTable = `"failure_reports": {"enabled": true, "from": "dmarc-failures@rcpt.example"`

// failureHarness serves a dmarc stage with failure reports configured
// by extra (more keys of the table) through sdktest.
func failureHarness(t *testing.T, extra string, clock *fakeClock) (*Plugin, *sdktest.Harness) {
	t.Helper()
	p := &Plugin{Clock: clock.now, IntN: func(int) int { return 0 }}
	return p, sdktest.New(t, p, "{"+failureTable+extra+"}}")
}

// failureMsg is a message from the address from with a body that must
// not reach a report by default.
func failureMsg(from string) []byte {
	return []byte("From: " + from + "\r\nTo: bob@example.net\r\nSubject: secret plans\r\nMessage-ID: <m1@sender.test>\r\n\r\nthe body text\r\n")
}

// sendFailing runs one message through the data hook from a client the
// stage evaluates, and returns the reports sent once its sends are done.
func sendFailing(t *testing.T, p *Plugin, h *sdktest.Harness, mailFrom, from string, auth ...sdk.AuthResult) []sdk.OutgoingMessage {
	t.Helper()
	txn := sdktest.NewTxn(mailFrom, "bob@example.net")
	txn.Session.ClientIP = "192.0.2.25"
	txn.AuthResults = auth
	h.Data(txn, failureMsg(from))
	if p.failures != nil {
		p.failures.wg.Wait()
	}
	return h.Sent()
}

func spfRes(result, mailfrom string) sdk.AuthResult {
	return sdk.AuthResult{Method: "spf", Result: result, Props: map[string]string{"smtp.mailfrom": mailfrom}, Stage: "spf"}
}

// TestFailureReportOptions: a report goes to ruf= exactly when the
// record's fo= asks for one (RFC 7489 §6.3), and never without ruf=, to
// an external destination that did not agree (§7.1), about a null
// sender's message, or about a client the stage skips.
func TestFailureReportOptions(t *testing.T) {
	failureDNS(t)
	for _, tc := range []struct {
		name     string
		mailFrom string
		from     string
		ip       string
		auth     []sdk.AuthResult
		to       string // "" when no report is due
	}{
		{"fo=0 all fail", "a@other.example", "a@fo0.test", "", nil, "ruf@fo0.test"},
		{"fo=0 one aligned pass", "a@fo0.test", "a@fo0.test", "", []sdk.AuthResult{spfRes("pass", "a@fo0.test"), dkimRes("fail", "fo0.test")}, ""},
		{"fo=1 one fails", "a@fo1.test", "a@fo1.test", "", []sdk.AuthResult{spfRes("pass", "a@fo1.test"), dkimRes("fail", "fo1.test")}, "ruf@fo1.test"},
		{"fo=1 no signature", "a@fo1.test", "a@fo1.test", "", []sdk.AuthResult{spfRes("pass", "a@fo1.test")}, "ruf@fo1.test"},
		{"fo=1 both aligned", "a@fo1.test", "a@fo1.test", "", []sdk.AuthResult{spfRes("pass", "a@fo1.test"), dkimRes("pass", "fo1.test")}, ""},
		{"fo=d unaligned signature failed", "a@fod.test", "a@fod.test", "", []sdk.AuthResult{spfRes("pass", "a@fod.test"), dkimRes("fail", "other.example")}, "ruf@fod.test"},
		{"fo=d no signature failed", "a@other.example", "a@fod.test", "", []sdk.AuthResult{spfRes("fail", "a@other.example")}, ""},
		{"fo=s unaligned spf failed", "a@other.example", "a@fos.test", "", []sdk.AuthResult{spfRes("fail", "a@other.example"), dkimRes("pass", "fos.test")}, "ruf@fos.test"},
		{"fo=s spf did not fail", "a@other.example", "a@fos.test", "", []sdk.AuthResult{spfRes("pass", "a@other.example"), dkimRes("fail", "fos.test")}, ""},
		{"no ruf", "a@other.example", "a@noruf.test", "", nil, ""},
		{"external unverified", "a@other.example", "a@ext.test", "", nil, ""},
		{"external verified", "a@other.example", "a@extok.test", "", nil, "f@reports.example"},
		{"null sender", "", "a@fo0.test", "", nil, ""},
		{"skipped client", "a@other.example", "a@fo0.test", "127.0.0.1", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, h := failureHarness(t, "", &fakeClock{t: day0})
			txn := sdktest.NewTxn(tc.mailFrom, "bob@example.net")
			txn.Session.ClientIP = "192.0.2.25"
			if tc.ip != "" {
				txn.Session.ClientIP = tc.ip
			}
			txn.AuthResults = tc.auth
			h.Data(txn, failureMsg(tc.from))
			p.failures.wg.Wait()
			sent := h.Sent()
			switch {
			case tc.to == "" && len(sent) != 0:
				t.Fatalf("sent %d reports to %v, want none", len(sent), sent[0].To)
			case tc.to != "" && (len(sent) != 1 || len(sent[0].To) != 1 || sent[0].To[0] != tc.to):
				t.Fatalf("sent %+v, want one report to %s", sent, tc.to)
			case tc.to != "" && sent[0].From != "":
				t.Fatalf("envelope sender %q, want the null sender", sent[0].From)
			}
		})
	}
}

// TestFailureReportsOff: without the table, or with enabled = false, no
// report goes, however failing the message.
func TestFailureReportsOff(t *testing.T) {
	failureDNS(t)
	for _, cfg := range []string{`{}`, `{"failure_reports": {"enabled": false, "from": "x@rcpt.example"}}`} {
		p := &Plugin{IntN: func(int) int { return 0 }}
		h := sdktest.New(t, p, cfg)
		if p.failures != nil {
			t.Fatalf("%s: failure reports on", cfg)
		}
		if sent := sendFailing(t, p, h, "a@other.example", "a@fo0.test"); len(sent) != 0 {
			t.Fatalf("%s: sent %d reports", cfg, len(sent))
		}
		if h.Info().NeedsBody {
			t.Fatalf("%s: the stage asks for the body", cfg)
		}
	}
}

// TestFailureReportConfig: from is required when the reports are on, and
// the rate limit is a positive number.
func TestFailureReportConfig(t *testing.T) {
	failureDNS(t)
	for _, cfg := range []string{
		`{"failure_reports": {"enabled": true}}`,
		`{"failure_reports": {"enabled": true, "from": "Name <x@rcpt.example>"}}`,
		`{` + failureTable + `, "max_per_domain_per_hour": 0}}`,
	} {
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err == nil {
			t.Errorf("%s: configured, want an error", cfg)
		}
	}
}

// TestFailureReportRateLimit: max_per_domain_per_hour reports about one
// policy domain in an hour, the others dropped; another domain has its
// own allowance; an hour later the domain gets reports again.
func TestFailureReportRateLimit(t *testing.T) {
	failureDNS(t)
	clock := &fakeClock{t: day0}
	p, h := failureHarness(t, `, "max_per_domain_per_hour": 2`, clock)
	for range 3 {
		sendFailing(t, p, h, "a@other.example", "a@fo0.test")
	}
	if n := len(h.Sent()); n != 2 {
		t.Fatalf("%d reports in the hour, want 2", n)
	}
	if n := len(sendFailing(t, p, h, "a@other.example", "a@fo1.test")); n != 3 {
		t.Fatalf("another domain: %d reports in all, want 3", n)
	}
	clock.set(day0.Add(59 * time.Minute))
	if n := len(sendFailing(t, p, h, "a@other.example", "a@fo0.test")); n != 3 {
		t.Fatalf("59 minutes on: %d reports in all, want 3", n)
	}
	clock.set(day0.Add(time.Hour))
	if n := len(sendFailing(t, p, h, "a@other.example", "a@fo0.test")); n != 4 {
		t.Fatalf("an hour on: %d reports in all, want 4", n)
	}
}

// TestFailureReportNotRetried: a report the core does not queue is
// logged and dropped, not sent again.
func TestFailureReportNotRetried(t *testing.T) {
	failureDNS(t)
	p, h := failureHarness(t, "", &fakeClock{t: day0})
	h.FailSend(errors.New("queue full"))
	sendFailing(t, p, h, "a@other.example", "a@fo0.test")
	h.FailSend(nil)
	if sent := sendFailing(t, p, h, "a@other.example", "a@fo1.test"); len(sent) != 1 || sent[0].To[0] != "ruf@fo1.test" {
		t.Fatalf("sent %+v, want only the later report, to ruf@fo1.test", sent)
	}
}

// TestFailureReportSize: a destination whose "!size" the report exceeds
// does not get it (RFC 7489 §6.4); the others do, and the To field names
// only them.
func TestFailureReportSize(t *testing.T) {
	failureDNS(t)
	p, h := failureHarness(t, "", &fakeClock{t: day0})
	sent := sendFailing(t, p, h, "a@other.example", "a@small.test")
	if len(sent) != 1 || strings.Join(sent[0].To, ",") != "big@small.test" {
		t.Fatalf("sent %+v, want one report to big@small.test", sent)
	}
	if bytes.Contains(sent[0].Message, []byte("tiny@")) {
		t.Fatal("the report's To names the destination it was not sent to")
	}
}

// reportParts parses a report: its header and its parts' headers and
// bodies, checking it is a multipart/report of feedback-report.
func reportParts(t *testing.T, raw []byte) (mail.Header, []*multipart.Part, [][]byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "feedback-report" {
		t.Fatalf("Content-Type %q: want multipart/report; report-type=feedback-report", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []*multipart.Part
	var bodies [][]byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		parts, bodies = append(parts, part), append(bodies, b)
	}
	return msg.Header, parts, bodies
}

// TestFailureReportStructure: the report is RFC 6591's: three parts, a
// text, a message/feedback-report of Feedback-Type auth-failure with the
// fields of the failure, and the original's header fields without its
// body.
func TestFailureReportStructure(t *testing.T) {
	failureDNS(t)
	t.Setenv(EnvHostname, "") // the authserv-id falls back to from's domain
	p, h := failureHarness(t, "", &fakeClock{t: day0})
	txn := sdktest.NewTxn("a@other.example", "bob@example.net")
	txn.Session.ClientIP = "192.0.2.25"
	txn.Envelope.MailParams = map[string]string{"ENVID": "QQ314159"}
	txn.AuthResults = []sdk.AuthResult{spfRes("pass", "a@other.example"), dkimRes("fail", "fo0.test")}
	if v := h.Data(txn, failureMsg("a@fo0.test")); v.Action != sdk.ActionReject {
		t.Fatalf("verdict %v, want reject", v.Action)
	}
	p.failures.wg.Wait()
	sent := h.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	hdr, parts, bodies := reportParts(t, sent[0].Message)
	for name, want := range map[string]string{
		"From": "<dmarc-failures@rcpt.example>", "To": "<ruf@fo0.test>", "Auto-Submitted": "auto-generated",
		"Subject": "DMARC failure report for fo0.test",
	} {
		if got := hdr.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	for i, want := range []string{"text/plain", "message/feedback-report", "text/rfc822-headers"} {
		if mt, _, _ := mime.ParseMediaType(parts[i].Header.Get("Content-Type")); mt != want {
			t.Errorf("part %d: %s, want %s", i+1, mt, want)
		}
	}
	fb, err := mail.ReadMessage(bytes.NewReader(append(bodies[1], "\r\n"...)))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Feedback-Type": "auth-failure", "Version": "1", "Auth-Failure": "dmarc", "User-Agent": "Sluice-dmarc",
		"Original-Mail-From": "<a@other.example>", "Original-Envelope-Id": "QQ314159", "Source-IP": "192.0.2.25",
		"Reported-Domain": "fo0.test", "Identity-Alignment": "none", "Delivery-Result": "reject",
		"DKIM-Domain": "fo0.test", "DKIM-Selector": "s1", "Arrival-Date": day0.Format(time.RFC1123Z),
	} {
		if got := fb.Header.Get(name); got != want {
			t.Errorf("feedback-report %s: %q, want %q", name, got, want)
		}
	}
	ar := fb.Header.Get("Authentication-Results")
	for _, want := range []string{"rcpt.example;", "spf=pass smtp.mailfrom=a@other.example", "dkim=fail header.d=fo0.test", "dmarc=fail", "header.from=fo0.test"} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results %q lacks %q", ar, want)
		}
	}
	orig, err := mail.ReadMessage(bytes.NewReader(append(bodies[2], "\r\n"...)))
	if err != nil {
		t.Fatal(err)
	}
	if s := orig.Header.Get("Subject"); s != "secret plans" {
		t.Errorf("headers part Subject %q, want the original's", s)
	}
	if bytes.Contains(sent[0].Message, []byte("the body text")) {
		t.Error("the report carries the original's body")
	}
}

// TestFailureReportIncludeBody: include_body sends the whole message as
// message/rfc822, and the stage asks the core for bodies then.
func TestFailureReportIncludeBody(t *testing.T) {
	failureDNS(t)
	p, h := failureHarness(t, `, "include_body": true`, &fakeClock{t: day0})
	if !h.Info().NeedsBody {
		t.Fatal("include_body: the stage does not ask for the body")
	}
	sent := sendFailing(t, p, h, "a@other.example", "a@fo0.test")
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	_, parts, bodies := reportParts(t, sent[0].Message)
	if mt := parts[2].Header.Get("Content-Type"); mt != "message/rfc822" {
		t.Fatalf("third part %s, want message/rfc822", mt)
	}
	if !bytes.Contains(bodies[2], []byte("\r\n\r\nthe body text")) {
		t.Fatalf("third part lacks the body: %q", bodies[2])
	}
}

// blockingMailer holds every Send until release is closed.
type blockingMailer struct {
	*recMailer
	release chan struct{}
}

func (m *blockingMailer) Send(ctx context.Context, msg sdk.OutgoingMessage) (string, error) {
	<-m.release
	return m.recMailer.Send(ctx, msg)
}

// TestFailureReportSaturated: the data hook never waits on a report's
// Send; with failureWorkers reports being sent, one more is dropped.
// A body given to the hook stays out of the report.
func TestFailureReportSaturated(t *testing.T) {
	failureDNS(t)
	m := &blockingMailer{recMailer: newRecMailer(), release: make(chan struct{})}
	p := &Plugin{IntN: func(int) int { return 0 }}
	if err := p.Configure(context.Background(), sdk.Config{Stage: "dmarc", Mailer: m,
		JSON: []byte("{" + failureTable + `, "max_per_domain_per_hour": 100}}`)}); err != nil {
		t.Fatal(err)
	}
	for range failureWorkers + 1 {
		deliver(t, p, "192.0.2.25", "a@other.example", "a@fo0.test")
	}
	close(m.release)
	p.failures.wg.Wait()
	if n := len(m.messages()); n != failureWorkers {
		t.Fatalf("%d reports sent, want %d (one dropped)", n, failureWorkers)
	}
	// Data was given the body (a core may pass it for another stage's
	// sake): without include_body the report still leaves it out.
	if msg := m.messages()[0].Message; bytes.Contains(msg, []byte("\r\nbody\r\n")) {
		t.Fatalf("the report carries the body without include_body:\n%s", msg)
	}
}

// TestFailureReportAuthservID: the feedback part's Authentication-Results
// names the core's host (SLUICE_HOSTNAME), as the core's own field does,
// not the domain of the reports' From address.
func TestFailureReportAuthservID(t *testing.T) {
	failureDNS(t)
	t.Setenv(EnvHostname, "mx1.sluice.test")
	p, h := failureHarness(t, "", &fakeClock{t: day0})
	sent := sendFailing(t, p, h, "a@other.example", "a@fo0.test")
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	_, _, bodies := reportParts(t, sent[0].Message)
	fb, err := mail.ReadMessage(bytes.NewReader(append(bodies[1], "\r\n"...)))
	if err != nil {
		t.Fatal(err)
	}
	if ar := fb.Header.Get("Authentication-Results"); !strings.HasPrefix(ar, "mx1.sluice.test;") {
		t.Fatalf("Authentication-Results %q: want the authserv-id mx1.sluice.test", ar)
	}
}

// TestFailureReportDKIMFields: a signed message's report names its
// signature (RFC 7489 §7.3.1: DKIM-Domain, DKIM-Identity, DKIM-Selector
// are required when the message was signed), the aligned pass of a fo=1
// report about an unaligned SPF too; DKIM-Identity defaults to "@d"
// (RFC 6376 §3.5) when the result has no header.i.
func TestFailureReportDKIMFields(t *testing.T) {
	failureDNS(t)
	p, h := failureHarness(t, "", &fakeClock{t: day0})
	sent := sendFailing(t, p, h, "a@other.example", "a@fo1.test", spfRes("pass", "a@other.example"), dkimRes("pass", "fo1.test"))
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	_, _, bodies := reportParts(t, sent[0].Message)
	fb, err := mail.ReadMessage(bytes.NewReader(append(bodies[1], "\r\n"...)))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Identity-Alignment": "dkim", "DKIM-Domain": "fo1.test", "DKIM-Selector": "s1", "DKIM-Identity": "@fo1.test",
	} {
		if got := fb.Header.Get(name); got != want {
			t.Errorf("feedback-report %s: %q, want %q", name, got, want)
		}
	}
}

// TestFailureReportLineLength: no line of a report is longer than RFC
// 5322 §2.1.1's 998 characters, however long the d=, s= and i= of the
// client's DKIM-Signature and a stage's reason.
func TestFailureReportLineLength(t *testing.T) {
	failureDNS(t)
	p, h := failureHarness(t, "", &fakeClock{t: day0})
	long := strings.Repeat(strings.Repeat("a", 60)+".", 20) + "example"
	sig := sdk.AuthResult{Method: "dkim", Result: "fail", Reason: strings.Repeat("bad \"signature\" ", 80), Stage: "dkim",
		Props: map[string]string{"header.d": long, "header.s": long, "header.i": "@" + long, "header.b": "abcdefgh"}}
	sent := sendFailing(t, p, h, "a@other.example", "a@fod.test", spfRes("pass", "a@fod.test"), sig)
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	for i, l := range strings.Split(string(sent[0].Message), "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d of %d characters: %.60q...", i+1, len(l), l)
		}
	}
	_, _, bodies := reportParts(t, sent[0].Message)
	fb, err := mail.ReadMessage(bytes.NewReader(append(bodies[1], "\r\n"...)))
	if err != nil {
		t.Fatal(err)
	}
	if d := fb.Header.Get("DKIM-Domain"); !strings.HasPrefix(long, d) || len(d) < 800 {
		t.Errorf("DKIM-Domain %.60q... (%d characters): want the start of d=", d, len(d))
	}
}

// TestFailureReportCopiesBuffers: the report is built from copies taken
// in the data hook: the SDK may reuse the message's and the
// transaction's buffers once the hook has returned, while the report
// is still being sent (go test -race sees a shared one too).
func TestFailureReportCopiesBuffers(t *testing.T) {
	failureDNS(t)
	m := &blockingMailer{recMailer: newRecMailer(), release: make(chan struct{})}
	p := &Plugin{IntN: func(int) int { return 0 }}
	if err := p.Configure(context.Background(), sdk.Config{Stage: "dmarc", Mailer: m,
		JSON: []byte("{" + failureTable + `, "include_body": true}}`)}); err != nil {
		t.Fatal(err)
	}
	txn := sdktest.NewTxn("a@other.example", "bob@example.net")
	txn.Session.ClientIP = "192.0.2.25"
	txn.AuthResults = []sdk.AuthResult{dkimRes("fail", "fo0.test")}
	msg, err := sdktest.ParseMessage(failureMsg("a@fo0.test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Data(context.Background(), txn, msg); err != nil {
		t.Fatal(err)
	}
	for _, h := range msg.Headers {
		for i := range h.Raw {
			h.Raw[i] = 'X'
		}
	}
	for i := range msg.Body {
		msg.Body[i] = 'X'
	}
	txn.AuthResults[0].Props["header.s"] = "reused"
	close(m.release)
	p.failures.wg.Wait()
	sent := m.messages()
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	for _, want := range []string{"Subject: secret plans", "the body text", "DKIM-Selector: s1"} {
		if !bytes.Contains(sent[0].Message, []byte(want)) {
			t.Errorf("the report lacks %q: a buffer reused after the hook reached it", want)
		}
	}
}
