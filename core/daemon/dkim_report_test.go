package daemon

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/plugins/dkim"
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
	keyFile, keyRecord, err := dkim.Keygen("sluice.test", "s1", dkim.KeyEd25519, dir)
	if err != nil {
		t.Fatal(err)
	}
	dns := testlib.NewDNS(t, keyRecord, `_smtp._tls.a.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:rua@reports.test"`)
	remote := testlib.NewSink(t, "127.0.0.1:0") // the relay, which refuses the message after DATA
	remote.OnData(func(int) error {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "content refused"}
	})
	sender := testlib.NewSink(t, "127.0.0.1:0") // sluice.test's mailbox server
	rua := testlib.NewSink(t, "127.0.0.1:0")    // reports.test's
	data := overdueTLSRPTCounts(t, dir)
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
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
[[stage]]
name     = "dkim-sign"
plugin   = "dkim"
on_error = "continue"
[stage.config]
mode = "sign"
keys = [{ domain = "sluice.test", selector = "s1", key_file = %q }]
`, data, dns.Addr, remote.Addr, sender.Addr, rua.Addr, keyFile)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if _, err := send(t, d, "refused", "bob@remote.test"); err != nil {
		t.Fatal(err)
	}

	res, err := dnsresolve.New([]string{dns.Addr}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(what string, m testlib.Delivery, from string) {
		t.Helper()
		msg := string(m.Data)
		if m.From != "" || !strings.Contains(msg, "\r\nFrom: "+from) {
			t.Fatalf("%s: not a report from the null sender and %s:\n%s", what, from, msg)
		}
		verifs, err := msgdkim.VerifyWithOptions(strings.NewReader(msg), &msgdkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) }})
		if err != nil || len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "sluice.test" {
			t.Fatalf("%s: no d=sluice.test signature that verifies (%v, %+v):\n%s", what, err, verifs, msg)
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
