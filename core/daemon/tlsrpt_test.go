package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// tlsrptToday reads GET /api/tlsrpt.
func tlsrptToday(t *testing.T, d *Daemon) []map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + d.AdminAddr().String() + "/api/tlsrpt")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Reports []map[string]any `json:"reports"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/tlsrpt: %d %v", resp.StatusCode, err)
	}
	return body.Reports
}

// overdueTLSRPTCounts writes the TLS-RPT counts of a day kept from before
// (a.test: one session to mx.a.test without STARTTLS) into dir's data
// directory, which it returns: the day is over, so its report goes out
// when a daemon with tls_rpt starts there.
func overdueTLSRPTCounts(t *testing.T, dir string) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().AddDate(0, 0, -3).Format(time.DateOnly)
	counts := fmt.Sprintf(`{"version": 1, "days": {%q: {"a.test": {"id": "r1", "results": [{"policy": {"policy-type": "no-policy-found", "policy-domain": "a.test"},
	  "summary": {"total-successful-session-count": 0, "total-failure-session-count": 1},
	  "failure-details": [{"result-type": "starttls-not-supported", "receiving-mx-hostname": "mx.a.test", "failed-session-count": 1}]}]}}}}`, day)
	if err := os.WriteFile(filepath.Join(data, tlsrptFile), []byte(counts), 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestTLSRPTWiring: with [delivery] tls_rpt on, an MX delivery's TLS
// session is counted (here a server without STARTTLS), GET /api/tlsrpt
// shows the report it makes, with the tls_rpt keys, and the counts are
// in data_dir once the daemon stops; with it off nothing is counted.
func TestTLSRPTWiring(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("tls_rpt=", on), func(t *testing.T) {
			port := freePort(t)
			sink := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
			dns := testlib.NewDNS(t, "a.test. 60 IN MX 10 mx.a.test.", "mx.a.test. 60 IN A 127.0.0.2")
			d := startDaemon(t, fmt.Sprintf("[dns]\nservers = [%q]\n[delivery]\nport = %d\ntls_rpt = %v\ntls_rpt_organization = \"Sluice Test\"\n",
				dns.Addr, port, on))
			msg := testlib.Message("alice@sluice.test", "bob@a.test", "tlsrpt", "Hello")
			if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@a.test"}, msg); err != nil {
				t.Fatal(err)
			}
			sink.WaitN(t, 1, 10*time.Second)
			reports := tlsrptToday(t, d)
			if !on {
				if len(reports) != 0 {
					t.Fatalf("tls_rpt off, yet %v", reports)
				}
				return
			}
			b, _ := json.Marshal(reports)
			for _, want := range []string{`"organization-name":"Sluice Test"`, `"contact-info":"noreply-smtp-tls-reporting@mx.sluice.test"`,
				`"policy-type":"no-policy-found"`, `"policy-domain":"a.test"`, `"result-type":"starttls-not-supported"`,
				`"receiving-mx-hostname":"mx.a.test"`, `"receiving-ip":"127.0.0.2"`, `@mx.sluice.test"`} {
				if !strings.Contains(string(b), want) {
					t.Errorf("GET /api/tlsrpt lacks %s: %s", want, b)
				}
			}
			dir := d.opt.Config.Resolve(d.opt.Config.DataDir)
			if err := d.Stop(); err != nil {
				t.Fatal(err)
			}
			saved, err := os.ReadFile(filepath.Join(dir, tlsrptFile))
			if err != nil || !strings.Contains(string(saved), "starttls-not-supported") {
				t.Errorf("counts not saved at stop: %v %s", err, saved)
			}
		})
	}
}
