package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestTLSRPTReportToAliasReachesTarget: a mailed TLS-RPT report whose
// rua is an alias of ours with one remote target reaches the target's
// server, by the route set for the target, as a bounce to such an alias
// does (the route stage replaces the report's recipient at the bounce
// hook). Before, the mailed report kept the alias as its recipient, and
// so the default route (the relay here), the route the stage set for the
// target never found.
func TestTLSRPTReportToAliasReachesTarget(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	dns := testlib.NewDNS(t, `_smtp._tls.a.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@sluice.test"`)
	relay := testlib.NewSink(t, "127.0.0.1:0") // the default route
	ops := testlib.NewSink(t, "127.0.0.1:0")   // ops.test's server, the alias's target's route
	// A day of TLS-RPT counts kept from before: it is over, so its report
	// goes out at start.
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
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
[dns]
servers = [%q]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[delivery]
relay   = %q
tls_rpt = true
[[stage]]
name = "route"
plugin = "route"
[stage.config.aliases]
"tls-reports@sluice.test" = ["ops@ops.test"]
[[stage.config.rules]]
match = "ops.test"
transport = "smtp:%s"
`, data, dns.Addr, relay.Addr, ops.Addr)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	r := ops.WaitN(t, 1, 20*time.Second)[0]
	msg := string(r.Data)
	if r.From != "" || !slices.Equal(r.Rcpts, []string{"ops@ops.test"}) || !strings.Contains(msg, "\r\nTLS-Report-Domain: a.test\r\n") {
		t.Fatalf("got from <%s> to %q, want a TLS report from <> to ops@ops.test:\n%s", r.From, r.Rcpts, msg)
	}
	waitEmpty(t, d)
	if n := len(relay.Deliveries()); n != 0 {
		t.Errorf("the relay took %d messages, want none", n)
	}
}
