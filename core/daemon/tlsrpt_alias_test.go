package daemon

import (
	"fmt"
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
	stages := fmt.Sprintf(`
[[stage]]
name = "route"
plugin = "route"
[stage.config.aliases]
"tls-reports@sluice.test" = ["ops@ops.test"]
[[stage.config.rules]]
match = "ops.test"
transport = "smtp:%s"
`, ops.Addr)
	d := site{DataDir: overdueTLSRPTCounts(t, dir), DNS: dns.Addr, Relay: relay.Addr, TLSRPT: true, Stages: stages}.start(t, self)

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
