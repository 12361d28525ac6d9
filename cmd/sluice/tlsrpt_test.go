package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/admin"
)

// tlsrptReports is GET /api/tlsrpt's reports as core/delivery makes them
// (RFC 8460 §4.4): dest.test with an sts policy (two failure details of
// one type, one failure past the details' bound) and a tlsa one,
// other.test with no policy.
const tlsrptReports = `[
 {"organization-name":"mx.sluice.test","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},
  "contact-info":"noreply-smtp-tls-reporting@mx.sluice.test","report-id":"20260301.ab12@mx.sluice.test","policies":[
  {"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce"],"policy-domain":"dest.test","mx-host":["mx.dest.test"]},
   "summary":{"total-successful-session-count":7,"total-failure-session-count":4},
   "failure-details":[
    {"result-type":"starttls-not-supported","sending-mta-ip":"192.0.2.1","receiving-ip":"198.51.100.1","failed-session-count":1},
    {"result-type":"certificate-expired","receiving-mx-hostname":"mx.dest.test","failed-session-count":1},
    {"result-type":"starttls-not-supported","sending-mta-ip":"192.0.2.2","receiving-ip":"198.51.100.1","failed-session-count":1}]},
  {"policy":{"policy-type":"tlsa","policy-string":["3 1 1 AB"],"policy-domain":"dest.test","mx-host":["mx2.dest.test"]},
   "summary":{"total-successful-session-count":2,"total-failure-session-count":0},"failure-details":[]}]},
 {"organization-name":"mx.sluice.test","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},
  "contact-info":"noreply-smtp-tls-reporting@mx.sluice.test","report-id":"20260301.cd34@mx.sluice.test","policies":[
  {"policy":{"policy-type":"no-policy-found","policy-domain":"other.test"},
   "summary":{"total-successful-session-count":3,"total-failure-session-count":0},"failure-details":[]}]}]`

// tlsrptAdmin is the admin API in-process, answering GET /api/tlsrpt
// with reports.
func tlsrptAdmin(t *testing.T, reports string) string {
	t.Helper()
	var reps []any
	if err := json.Unmarshal([]byte(reports), &reps); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Logger: slog.New(slog.DiscardHandler),
		TLSReports: func() []any { return reps }}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTLSRPTCommand: sluice tlsrpt prints a row per policy of each
// domain, the failures by result type; --json the API's document.
func TestTLSRPTCommand(t *testing.T) {
	url := tlsrptAdmin(t, tlsrptReports)
	want := "TLS sessions of 2026-03-01 (UTC) so far\n" +
		"DOMAIN      POLICY           MX             SUCCESSES  FAILURES  RESULT TYPES\n" +
		"dest.test   sts              mx.dest.test   7          4         certificate-expired:1 starttls-not-supported:2 other:1\n" +
		"dest.test   tlsa             mx2.dest.test  2          0         -\n" +
		"other.test  no-policy-found  -              3          0         -\n"
	if got := runCLI(t, "tlsrpt", "--admin", url); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	out := runCLI(t, "tlsrpt", "--json", "--admin", url)
	var doc struct {
		Reports []map[string]any `json:"reports"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Reports) != 2 || doc.Reports[1]["report-id"] != "20260301.cd34@mx.sluice.test" {
		t.Errorf("--json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "{\n  \"reports\": [") {
		t.Errorf("--json not indented as the other commands': %s", out)
	}

	if got := runCLI(t, "tlsrpt", "--admin", tlsrptAdmin(t, "[]")); !strings.HasPrefix(got, "no TLS session counted today") {
		t.Errorf("no counts: %q", got)
	}
}

// TestTLSRPTCommandErrors: the exit codes of the other client commands.
func TestTLSRPTCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"tlsrpt", "--admin", "127.0.0.1:1"}, exitUnreachable, "unreachable"},
		{[]string{"tlsrpt", "today"}, exitUser, "tlsrpt takes no arguments"},
		{[]string{"tlsrpt", "--admin", ""}, exitUser, "--admin needs a URL"},
		{[]string{"tlsrpt", "-h"}, exitOK, ""},
	} {
		var o, e bytes.Buffer
		if code := run(c.args, nil, &o, &e); code != c.code || !strings.Contains(e.String(), c.err) {
			t.Errorf("sluice %q: exit %d, stderr %q; want %d and %q", c.args, code, e.String(), c.code, c.err)
		}
		if c.code == exitOK && !strings.HasPrefix(o.String(), "usage: sluice tlsrpt") {
			t.Errorf("-h: %q", o.String())
		}
	}
}
