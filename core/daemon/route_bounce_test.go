package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A bounce to a local sender goes where the route stage sends the
// sender's domain (its mailbox server), as Postfix applies transport_maps
// to its own reports. It used to take the default route (here the relay;
// on a host that is its domain's MX, MX delivery back to itself: a loop,
// then the report dropped).
func TestRouteStageRoutesReportsToLocalSenders(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	relay := testlib.NewSink(t, "127.0.0.1:0")
	relay.OnRcpt(func(rcpt string) error {
		if rcpt == "carol@remote.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	mb := startMailbox(t, "alice@sluice.test")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "route"
plugin = "route"
[[stage.config.rules]]
match = "sluice.test"
transport = "lmtp:unix:%s"
recipients = ["alice"]
`, t.TempDir(), relayTo(relay), mb.sock)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if _, err := send(t, d, "to carol", "carol@remote.test"); err != nil {
		t.Fatal(err)
	}
	mb.wait(t, "alice@sluice.test")
	mb.mu.Lock()
	report := string(mb.got["alice@sluice.test"])
	mb.mu.Unlock()
	if !strings.Contains(report, "multipart/report") || !strings.Contains(report, "carol@remote.test") {
		t.Errorf("alice's mailbox got:\n%s", report)
	}
	waitEmpty(t, d)
	for _, got := range relay.Deliveries() {
		t.Errorf("the relay got a message for %q; the report is the mailbox's", got.Rcpts)
	}
}
