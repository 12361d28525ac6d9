package delivery

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// tlsReportsFor makes the harness's agent count TLS sessions into a
// TLSReports over its queue, clock and resolver; call after useDNS.
func tlsReportsFor(h *harness, path string) *TLSReports {
	h.t.Helper()
	r := NewTLSReports(TLSReportOptions{
		Identity: config.TLSReporting{TLSRPT: true}.Identity("mta.sluice.test"),
		Hostname: "mta.sluice.test", Path: path, Resolver: h.opt.Resolver, Queue: h.q,
		Clock: h.clock.Now, Rand: func() float64 { return 0 }, Logger: h.opt.Logger,
	})
	h.opt.TLSReports = r
	return r
}

// todays decodes what GET /api/tlsrpt would show.
func todays(t *testing.T, r *TLSReports) []tlsReport {
	t.Helper()
	b, err := json.Marshal(r.Today())
	if err != nil {
		t.Fatal(err)
	}
	var out []tlsReport
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// onlyResult is the one policy result of the one report in reps.
func onlyResult(t *testing.T, reps []tlsReport) *tlsrptResult {
	t.Helper()
	if len(reps) != 1 || len(reps[0].Policies) != 1 {
		b, _ := json.Marshal(reps)
		t.Fatalf("want one report of one policy, got %s", b)
	}
	return reps[0].Policies[0]
}

// TestTLSRPTEnforceWithoutSTARTTLS: an MX without STARTTLS under an
// MTA-STS enforce policy is counted as starttls-not-supported, under
// the policy with its text and mx patterns.
func TestTLSRPTEnforceWithoutSTARTTLS(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsEnforce)
	r := tlsReportsFor(h, "")
	h.sinkAt("127.0.0.1", sinkOptions{}) // no tls: no STARTTLS
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := rcpt(h.recorded(id), "r@dest.test"); got.Status != envelope.RcptPending {
		t.Fatalf("%+v, want deferred", got)
	}
	res := onlyResult(t, todays(t, r))
	want := tlsrptPolicy{Type: "sts", Domain: "dest.test",
		String: []string{"version: STSv1", "mode: enforce", "mx: mx.dest.test", "max_age: 86400"}, MXHost: []string{"mx.dest.test"}}
	if !slices.Equal(res.Policy.String, want.String) || !slices.Equal(res.Policy.MXHost, want.MXHost) || res.Policy.Type != want.Type || res.Policy.Domain != want.Domain {
		t.Errorf("policy %+v, want %+v", res.Policy, want)
	}
	if res.Summary != (tlsrptSummary{Failure: 1}) {
		t.Errorf("summary %+v, want one failure", res.Summary)
	}
	wantF := tlsrptFailure{ResultType: "starttls-not-supported", SendingIP: "127.0.0.1", MXHostname: "mx.dest.test",
		MXHelo: "sink.test", ReceivingIP: "127.0.0.1", Count: 1}
	if len(res.FailureDetails) != 1 || *res.FailureDetails[0] != wantF {
		t.Errorf("failure details %+v, want %+v", res.FailureDetails, wantF)
	}
}

// TestTLSRPTEnforceSuccess: a session whose certificate passes the
// policy is counted as a success, and a bad certificate under it as
// certificate-host-mismatch.
func TestTLSRPTEnforceSuccess(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsEnforce)
	r := tlsReportsFor(h, "")
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test")})
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	if !waitMsg(t, s).tls {
		t.Fatal("delivered without TLS")
	}
	res := onlyResult(t, todays(t, r))
	if res.Summary != (tlsrptSummary{Success: 1}) || len(res.FailureDetails) != 0 || res.Policy.Type != "sts" {
		t.Errorf("%+v, want one success under the sts policy", res)
	}
}

func TestTLSRPTEnforceWrongCertificate(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsEnforce)
	r := tlsReportsFor(h, "")
	h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	h.recorded(id)
	res := onlyResult(t, todays(t, r))
	if len(res.FailureDetails) != 1 || res.FailureDetails[0].ResultType != "certificate-host-mismatch" || res.Summary.Failure != 1 {
		t.Errorf("%+v, want one certificate-host-mismatch", res)
	}
}

// TestTLSRPTNoPolicy: without MTA-STS the sessions are counted under
// no-policy-found: an opportunistic STARTTLS is a success.
func TestTLSRPTNoPolicy(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, "dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.1")
	r := tlsReportsFor(h, "")
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test")})
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	res := onlyResult(t, todays(t, r))
	if res.Policy.Type != "no-policy-found" || res.Policy.Domain != "dest.test" || res.Summary != (tlsrptSummary{Success: 1}) {
		t.Errorf("%+v, want one success under no-policy-found", res)
	}
}

// TestTLSRPTKeptAcrossRestart: the counts saved to the file are read
// back by the next TLSReports, report id and all.
func TestTLSRPTKeptAcrossRestart(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	r := tlsReportsFor(h, path)
	p := newRPTPolicy(rptTypeNone, "dest.test", nil, nil)
	r.add(p, nil)
	r.add(p, &tlsrptFailure{ResultType: rptStartTLSNotSupported, MXHostname: "mx.dest.test", Count: 1})
	r.save()
	again := NewTLSReports(TLSReportOptions{Identity: r.opt.Identity, Path: path, Clock: h.clock.Now})
	before, after := todays(t, r), todays(t, again)
	if len(after) != 1 || after[0].ReportID != before[0].ReportID {
		t.Fatalf("after a restart %+v, want %+v", after, before)
	}
	if res := onlyResult(t, after); res.Summary != (tlsrptSummary{Success: 1, Failure: 1}) || len(res.FailureDetails) != 1 {
		t.Errorf("after a restart %+v", res)
	}
	// Counting goes on from there.
	again.add(p, nil)
	if res := onlyResult(t, todays(t, again)); res.Summary.Success != 2 {
		t.Errorf("after a restart and a success: %+v", res.Summary)
	}
}

// TestTLSRPTDayRollover: once the day is over, the report goes to each
// rua of the domain's TLSRPT record: POSTed gzipped to the https: one,
// and queued to the mailto: one, which delivery sends like any mail
// (and does not count in the next day's report).
func TestTLSRPTDayRollover(t *testing.T) {
	h := newHarness(t)
	posted := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		posted <- req
		bodies <- b
	}))
	t.Cleanup(srv.Close)
	h.useDNS(nil, "dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.1",
		"reports.test. MX 10 mx.reports.test.", "mx.reports.test. A 127.0.0.2",
		`_smtp._tls.dest.test. TXT "v=TLSRPTv1; rua=`+srv.URL+`/tlsrpt,mailto:tls%2Drpt@reports.test; x=y"`)
	r := tlsReportsFor(h, "")
	r.opt.HTTPClient = srv.Client()
	s := h.sinkAt("127.0.0.1", sinkOptions{}) // no STARTTLS
	// The reports' MX, another server: a session pooled from the first
	// delivery would not be counted anyway.
	rs := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	day := todays(t, r)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(cancel)
	h.clock.Advance(12*time.Hour + time.Minute) // 2026-03-02 00:01 UTC
	r.Kick()

	var req *http.Request
	var body []byte
	select {
	case req = <-posted:
		body = <-bodies
	case <-time.After(waitLimit):
		t.Fatal("no report posted")
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/tlsrpt+gzip" || req.Method != http.MethodPost || req.URL.Path != "/tlsrpt" {
		t.Errorf("%s %s with Content-Type %q", req.Method, req.URL.Path, ct)
	}
	rep := gunzipReport(t, body)
	if rep.OrganizationName != "mta.sluice.test" || rep.ContactInfo != "noreply-smtp-tls-reporting@mta.sluice.test" ||
		rep.DateRange.Start != "2026-03-01T00:00:00Z" || rep.DateRange.End != "2026-03-01T23:59:59Z" ||
		rep.ReportID != day[0].ReportID || !strings.HasSuffix(rep.ReportID, "@mta.sluice.test") {
		t.Errorf("report metadata %+v", rep)
	}
	res := onlyResult(t, []tlsReport{rep})
	if res.Policy.Type != "no-policy-found" || res.Summary.Failure != 1 || res.FailureDetails[0].ResultType != "starttls-not-supported" {
		t.Errorf("report %+v", res)
	}

	m := waitMsg(t, rs)
	if m.from != "" || !slices.Equal(m.rcpts, []string{"tls-rpt@reports.test"}) {
		t.Errorf("report mailed from %q to %q", m.from, m.rcpts)
	}
	checkReportMail(t, m.body, rep)
	// The report's own delivery is not counted (RFC 8460 §3): its
	// session was made (and would have been counted) before its DATA.
	if reps := todays(t, r); len(reps) != 0 {
		b, _ := json.Marshal(reps)
		t.Errorf("the report's delivery was counted: %s", b)
	}
	// The day was forgotten once sent, before the mail was queued.
	cancel()
	<-done
	if _, ok := r.days["2026-03-01"]; ok {
		t.Error("the day is still kept after its reports went out")
	}
}

func gunzipReport(t *testing.T, gz []byte) tlsReport {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var rep tlsReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for _, k := range []string{`"organization-name"`, `"date-range"`, `"contact-info"`, `"report-id"`, `"policies"`,
		`"policy-type"`, `"policy-domain"`, `"total-successful-session-count"`, `"total-failure-session-count"`,
		`"failure-details"`, `"result-type"`, `"sending-mta-ip"`, `"receiving-mx-hostname"`, `"receiving-ip"`, `"failed-session-count"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("report lacks %s: %s", k, b)
		}
	}
	return rep
}

// checkReportMail checks a mailed report's header (RFC 8460 §5.3) and
// that its attachment is rep.
func checkReportMail(t *testing.T, raw string, rep tlsReport) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	hd := msg.Header
	for k, want := range map[string]string{
		"TLS-Report-Domain":    "dest.test",
		"TLS-Report-Submitter": "mta.sluice.test",
		"Subject":              "Report Domain: dest.test Submitter: mta.sluice.test Report-ID: <" + rep.ReportID + ">",
		"From":                 "<noreply-smtp-tls-reporting@mta.sluice.test>",
	} {
		if got := strings.Join(strings.Fields(hd.Get(k)), " "); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	mt, params, err := mime.ParseMediaType(hd.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", hd.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	found := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			continue
		}
		found = true
		if fn := p.FileName(); !strings.HasPrefix(fn, "mta.sluice.test!dest.test!1772323200!1772409599!") || !strings.HasSuffix(fn, ".json.gz") {
			t.Errorf("file name %q", fn)
		}
		b, _ := io.ReadAll(p)
		gz, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		if err != nil {
			t.Fatal(err)
		}
		if got := gunzipReport(t, gz); got.ReportID != rep.ReportID {
			t.Errorf("attached report %+v, want %+v", got, rep)
		}
	}
	if !found {
		t.Error("no application/tlsrpt+gzip part")
	}
}

func TestParseTLSRPT(t *testing.T) {
	for _, c := range []struct {
		txts []string
		want []string
	}{
		{[]string{"v=TLSRPTv1; rua=mailto:a@example.org"}, []string{"mailto:a@example.org"}},
		{[]string{"v=TLSRPTv1;rua=https://r.example.org/x , mailto:b%40x@example.org", "v=spf1 -all"},
			[]string{"https://r.example.org/x"}}, // "b@x@example.org" is no address
		{[]string{"v=TLSRPTv1; rua=mailto:a@example.org?subject=x; ext=1"}, []string{"mailto:a@example.org"}},
		{[]string{"v=TLSRPTv1; rua=ftp://x.example.org/,http://x.example.org/"}, nil},
		{[]string{"v=TLSRPTv1; rua=mailto:a@example.org", "v=TLSRPTv1; rua=mailto:b@example.org"}, nil}, // two records: none
		{[]string{"v=TLSRPTv2; rua=mailto:a@example.org"}, nil},
		{[]string{"rua=mailto:a@example.org; v=TLSRPTv1"}, nil},
	} {
		if got, _ := parseTLSRPT(c.txts); !slices.Equal(got, c.want) {
			t.Errorf("parseTLSRPT(%q) = %q, want %q", c.txts, got, c.want)
		}
	}
}

// TestTLSRPTReportIgnoresTLSPolicy: a report mailed to a domain whose
// MTA-STS enforce policy its MX fails (no STARTTLS) is delivered all the
// same, in plaintext (RFC 8460 §3), while other mail to it waits.
func TestTLSRPTReportIgnoresTLSPolicy(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, append(slices.Clone(stsZone), `_smtp._tls.dest.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@dest.test"`)...)
	startSTS(t, h, ca, stsEnforce)
	r := tlsReportsFor(h, "")
	s := h.sinkAt("127.0.0.1", sinkOptions{}) // no STARTTLS
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := rcpt(h.recorded(id), "r@dest.test"); got.Status != envelope.RcptPending {
		t.Fatalf("%+v, want deferred by the enforce policy", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h.clock.Advance(12 * time.Hour)
	r.Kick()
	m := waitMsg(t, s)
	if !slices.Equal(m.rcpts, []string{"tlsrpt@dest.test"}) || m.tls || !strings.Contains(m.body, "TLS-Report-Domain: dest.test") {
		t.Fatalf("got a message to %q (tls %v), want the report in plaintext", m.rcpts, m.tls)
	}
}

// TestTLSRPTDANE: sessions with an MX host that has usable TLSA records
// are counted under its tlsa policy, the records in presentation format;
// a certificate they do not match is certificate-not-trusted; a TLSA
// lookup that fails is dnssec-invalid.
func TestTLSRPTDANE(t *testing.T) {
	t.Run("match", func(t *testing.T) {
		h := newHarness(t)
		cert := testlib.SelfSigned(t, "other.test")
		rr := h.tlsaRR(3, 1, leafOf(t, cert))
		h.useValidatingDNS(nil, nil, append(slices.Clone(daneZone), rr)...)
		r := tlsReportsFor(h, "")
		s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
		h.start()
		h.enqueue(msg("s@origin.test", "r@dest.test"))
		waitMsg(t, s)
		res := onlyResult(t, todays(t, r))
		f := strings.Fields(rr)
		want := strings.Join(f[len(f)-4:len(f)-1], " ") + " " + strings.ToUpper(f[len(f)-1])
		if res.Policy.Type != "tlsa" || !slices.Equal(res.Policy.String, []string{want}) || !slices.Equal(res.Policy.MXHost, []string{"mx.dest.test"}) ||
			res.Policy.Domain != "dest.test" || res.Summary != (tlsrptSummary{Success: 1}) {
			t.Errorf("%+v, want one success under the tlsa policy %q", res, want)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		h := newHarness(t)
		other := testlib.SelfSigned(t, "mx.dest.test")
		h.useValidatingDNS(nil, nil, append(slices.Clone(daneZone), h.tlsaRR(3, 1, leafOf(t, other)))...)
		r := tlsReportsFor(h, "")
		h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "mx.dest.test")}}})
		h.start()
		h.recorded(h.enqueue(msg("s@origin.test", "r@dest.test")))
		res := onlyResult(t, todays(t, r))
		if res.Policy.Type != "tlsa" || len(res.FailureDetails) != 1 || res.FailureDetails[0].ResultType != "certificate-not-trusted" {
			t.Errorf("%+v, want certificate-not-trusted under the tlsa policy", res)
		}
	})
	t.Run("lookup fails", func(t *testing.T) {
		h := newHarness(t)
		h.useValidatingDNS(nil, []string{fmt.Sprintf("_%d._tcp.mx.dest.test", h.port)}, daneZone...)
		r := tlsReportsFor(h, "")
		h.start()
		h.recorded(h.enqueue(msg("s@origin.test", "r@dest.test")))
		res := onlyResult(t, todays(t, r))
		if res.Policy.Type != "tlsa" || len(res.FailureDetails) != 1 || res.FailureDetails[0].ResultType != "dnssec-invalid" ||
			res.FailureDetails[0].MXHostname != "mx.dest.test" {
			t.Errorf("%+v, want dnssec-invalid for mx.dest.test", res)
		}
	})
}

// TestTLSRPTSTSPolicyInvalid: a policy that does not parse is counted
// as sts-policy-invalid, and the session that follows, without a
// policy, under no-policy-found.
func TestTLSRPTSTSPolicyInvalid(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, "version: STSv1\nmode: sometimes\n")
	r := tlsReportsFor(h, "")
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test")})
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	reps := todays(t, r)
	if len(reps) != 1 || len(reps[0].Policies) != 2 {
		t.Fatalf("%+v, want one report of two policies", reps)
	}
	sts, none := reps[0].Policies[0], reps[0].Policies[1]
	if sts.Policy.Type != "sts" || sts.Summary.Failure != 1 || sts.FailureDetails[0].ResultType != "sts-policy-invalid" {
		t.Errorf("%+v, want sts-policy-invalid", sts)
	}
	if none.Policy.Type != "no-policy-found" || none.Summary != (tlsrptSummary{Success: 1}) {
		t.Errorf("%+v, want a success without policy", none)
	}
}
