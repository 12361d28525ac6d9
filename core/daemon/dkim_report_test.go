package daemon

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestDKIMSignsReports: a dkim sign stage signs the reports Sluice
// generates (the bounce hook) with the key of the host's domain, as it
// signs the site's mail: a bounce from MAILER-DAEMON@mx.sluice.test for a
// message the next hop refused after DATA reaches the sender's sink,
// routed there by the route stage before it, and a mailed TLS-RPT report
// from tls_rpt_from its rua sink, each with a d=sluice.test signature that
// verifies against the key in (loopback) DNS; the report's trace shows
// the signature added. A dkim verify stage, which does not declare the
// bounce hook (sdk.HookChooser), is not asked.
func TestDKIMSignsReports(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	keyFile, keyRecord := signingKey(t, dir, "sluice.test")
	dns := testlib.NewDNS(t, keyRecord, `_smtp._tls.a.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:rua@reports.test"`)
	remote := testlib.NewSink(t, "127.0.0.1:0") // the relay, which refuses the message after DATA
	remote.OnData(func(int) error {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "content refused"}
	})
	sender := testlib.NewSink(t, "127.0.0.1:0") // sluice.test's mailbox server
	rua := testlib.NewSink(t, "127.0.0.1:0")    // reports.test's
	stages := fmt.Sprintf(`
[[stage]]
name     = "dkim-verify"
plugin   = "dkim"
on_error = "continue"
[[stage]]
name = "route"
plugin = "route"
[[stage.config.rules]]
match = "sluice.test"
transport = "smtp:%s"
[[stage.config.rules]]
match = "reports.test"
transport = "smtp:%s"
`, sender.Addr, rua.Addr)
	d := site{DataDir: overdueTLSRPTCounts(t, dir), DNS: dns.Addr, Relay: remote.Addr, RelayNetworks: true, TLSRPT: true,
		Stages: stages, SignKey: keyFile}.start(t, self)
	if _, err := send(t, d, "refused", "bob@remote.test"); err != nil {
		t.Fatal(err)
	}

	verify := func(what string, m testlib.Delivery, from string) {
		t.Helper()
		msg := string(m.Data)
		if m.From != "" || !strings.Contains(msg, "\r\nFrom: "+from) {
			t.Fatalf("%s: not a report from the null sender and %s:\n%s", what, from, msg)
		}
		if err := sluiceSigned(t, dns.Addr, msg); err != nil {
			t.Fatalf("%s: %v:\n%s", what, err, msg)
		}
	}
	bounce := sender.WaitN(t, 1, 20*time.Second)[0]
	verify("bounce", bounce, "Mail Delivery System <MAILER-DAEMON@mx.sluice.test>")
	verify("TLS-RPT report", rua.WaitN(t, 1, 20*time.Second)[0], "<noreply-smtp-tls-reporting@mx.sluice.test>")

	id := regexp.MustCompile(`(?m)^Received: by mx\.sluice\.test \(Sluice\) id (\S+);`).FindStringSubmatch(string(bounce.Data))
	if id == nil {
		t.Fatalf("no report id in\n%s", bounce.Data)
	}
	var got []string
	for _, e := range getTrace(t, d, id[1]).Entries {
		if e.Hook == sdk.HookBounce {
			got = append(got, e.Stage+":"+e.Action+":"+e.Reason+":"+strings.Join(e.Edits, ","))
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "route:continue:") ||
		!strings.HasPrefix(got[1], "dkim-sign:continue:dkim: signed for sluice.test with s1._domainkey.sluice.test:") ||
		!strings.Contains(got[1], "DKIM-Signature") {
		t.Fatalf("bounce hook trace %q, want route, then dkim-sign adding the signature (dkim-verify not asked)", got)
	}
}
