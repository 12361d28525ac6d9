package daemon

import (
	"fmt"
	"net/textproto"
	"path/filepath"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// The transaction numbers go on counting across XCLIENT, which starts the
// stages' session again under the same session ID: a filter rcpt rule
// that matched in the proxy's transaction before XCLIENT does not act on
// the named client's first one, though the filter was asked about none
// of its connect, HELO, MAIL and RCPT (a stage before it accepted them).
// Before, the count restarted at XCLIENT, both transactions were number
// 1, and the data hook took the first one's ceo@ for its first
// recipient: audit@ got a copy of mail to allow@ alone.
func TestFilterRcptRuleStaysInItsTransactionAcrossXClient(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	actor := testlib.Build(t, "./internal/testplugins/actor")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
xclient_hosts = ["127.0.0.0/8"]
%s
[[stage]]
name = "allow"
plugin = %q
[stage.config]
json = '{"connect": {"action": "accept"}, "helo": {"action": "accept"}, "mail": {"action": "accept"}, "rcpt": {"allow@remote.test": {"action": "accept"}}}'
[[stage]]
name = "filter"
plugin = "filter"
[[stage.config.rules]]
name   = "vip"
hook   = "rcpt"
match  = "^ceo@"
action = "bcc"
bcc    = "audit@remote.test"
`, filepath.Join(t.TempDir(), "data"), relayTo(sink), actor)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	c, err := textproto.Dial("tcp", d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step := func(code int, cmd string) string {
		t.Helper()
		if cmd != "" {
			if err := c.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		_, msg, err := c.ReadResponse(code)
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return msg
	}
	step(220, "")
	step(250, "EHLO proxy.test")
	step(250, "MAIL FROM:<alice@sluice.test>")
	step(250, "RCPT TO:<ceo@remote.test>") // the filter's rule matches
	step(250, "RSET")
	step(220, "XCLIENT ADDR=127.0.0.9 NAME=client.test")
	step(250, "EHLO client.test")
	step(250, "MAIL FROM:<alice@sluice.test>")
	step(250, "RCPT TO:<allow@remote.test>")
	step(354, "DATA")
	w := c.DotWriter()
	if _, err := w.Write(testlib.Message("alice@sluice.test", "allow@remote.test", "after xclient", "body")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, step(250, ""))
	step(221, "QUIT")

	ruleStayedInItsTransaction(t, d, sink, id, "after xclient")
}
