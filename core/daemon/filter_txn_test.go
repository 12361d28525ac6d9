package daemon

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A filter rcpt rule that matched in a transaction the client reset does
// not act on the session's next one, whose MAIL and RCPT a stage before
// the filter accepted (so the filter was asked about neither): the core
// numbers the transactions, and the filter's record of ceo@ is the
// first's. Before, the data hook took the first transaction's ceo@ as
// its first recipient, and audit@ got a copy of mail to allow@ alone.
// With delay_reject too, where the held hooks come in one go.
func TestFilterRcptRuleStaysInItsTransaction(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	actor := testlib.Build(t, "./internal/testplugins/actor")
	for _, delay := range []bool{false, true} {
		t.Run(fmt.Sprintf("delay_reject=%v", delay), func(t *testing.T) {
			sink := testlib.NewSink(t, "127.0.0.1:0")
			src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
delay_reject = %v
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "allow"
plugin = %q
[stage.config]
json = '{"mail": {"action": "accept"}, "rcpt": {"allow@remote.test": {"action": "accept"}}}'
[[stage]]
name = "filter"
plugin = "filter"
[[stage.config.rules]]
name   = "vip"
hook   = "rcpt"
match  = "^ceo@"
action = "bcc"
bcc    = "audit@remote.test"
`, filepath.Join(t.TempDir(), "data"), delay, relayTo(sink), actor)
			d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Stop()

			c, err := smtp.Dial(d.SMTPAddrs()["mx"].String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello("client.test"); err != nil {
				t.Fatal(err)
			}
			if err := c.Mail("alice@sluice.test", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt("ceo@remote.test", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
			msg := testlib.Message("alice@sluice.test", "allow@remote.test", "after reset", "body")
			r, err := testlib.Transact(c, "alice@sluice.test", []string{"allow@remote.test"}, msg)
			if err != nil {
				t.Fatal(err)
			}
			ruleStayedInItsTransaction(t, d, sink, queuedID(t, r), "after reset")
		})
	}
}

// ruleStayedInItsTransaction checks, for the tests above and across
// XCLIENT, that the filter did nothing at the data hook of message id
// (subject, to allow@), that the message went to allow@ alone, and that
// the vip rule still copies mail to ceo@.
func ruleStayedInItsTransaction(t *testing.T, d *Daemon, sink *testlib.Sink, id, subject string) {
	t.Helper()
	for _, e := range getTrace(t, d, id).Entries {
		if e.Stage == "filter" && e.Hook == "data" && (len(e.Edits) > 0 || e.Reason != "") {
			t.Errorf("filter's data trace %q edits %q: want nothing done", e.Reason, e.Edits)
		}
	}
	if _, err := send(t, d, "to the ceo", "ceo@remote.test"); err != nil {
		t.Fatal(err)
	}
	if got := subjectRcpts(t, sink, "to the ceo", 2); !slices.Equal(got, []string{"audit@remote.test", "ceo@remote.test"}) {
		t.Fatalf("the message to ceo@ went to %v, want ceo@ and its copy", got)
	}
	if got := subjectRcpts(t, sink, subject, 1); !slices.Equal(got, []string{"allow@remote.test"}) {
		t.Errorf("the message to allow@ went to %v, want allow@ alone", got)
	}
}
