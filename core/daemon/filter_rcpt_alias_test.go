package daemon

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A filter rcpt rule acts at data on the recipient it matched at RCPT,
// though a route stage before it has expanded that recipient as an alias
// by then (ceo@ to alice@ and bob@, cfo@ to carol@): the bcc copy reaches
// the relay, the redirect is made, and the trace says so at rcpt and at
// data. With delay_reject too, where the filter's hooks come in a batch.
func TestFilterRcptRuleAfterRouteAlias(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
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
name = "route"
plugin = "route"
[stage.config.aliases]
"ceo@remote.test" = ["alice@remote.test", "bob@remote.test"]
"cfo@remote.test" = ["carol@remote.test"]
[[stage]]
name = "filter"
plugin = "filter"
[[stage.config.rules]]
name   = "vip"
hook   = "rcpt"
match  = "^ceo@"
action = "bcc"
bcc    = "audit@remote.test"
[[stage.config.rules]]
name     = "cfo"
hook     = "rcpt"
match    = "^cfo@"
action   = "redirect"
redirect = "review@remote.test"
`, filepath.Join(t.TempDir(), "data"), delay, relayTo(sink))
			d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Stop()

			r, err := send(t, d, "to the ceo", "ceo@remote.test")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := subjectRcpts(t, sink, "to the ceo", 3), []string{"alice@remote.test", "audit@remote.test", "bob@remote.test"}; !slices.Equal(got, want) {
				t.Fatalf("the message to ceo@ went to %v, want %v", got, want)
			}
			var rcptWhy, dataWhy string
			var dataEdits []string
			for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
				switch {
				case e.Stage == "filter" && e.Hook == "rcpt":
					rcptWhy = e.Reason
				case e.Stage == "filter" && e.Hook == "data":
					dataWhy, dataEdits = e.Reason, e.Edits
				}
			}
			if !strings.Contains(rcptWhy, `rule "vip" (bcc)`) || !strings.Contains(rcptWhy, "(copied at data)") {
				t.Errorf("filter's rcpt trace %q: want the rule noted", rcptWhy)
			}
			if !strings.Contains(dataWhy, `rule "vip" (bcc): recipient "ceo@remote.test"`) || !strings.Contains(dataWhy, "copy to <audit@remote.test>") ||
				!slices.Contains(dataEdits, "add recipient <audit@remote.test>") {
				t.Errorf("filter's data trace %q edits %q: want the copy made", dataWhy, dataEdits)
			}

			// cfo@ second, after dan@: its alias's target carries its
			// ORCPT, which says it was taken.
			if _, err := send(t, d, "to the cfo", "dan@remote.test", "cfo@remote.test"); err != nil {
				t.Fatal(err)
			}
			if got := subjectRcpts(t, sink, "to the cfo", 1); !slices.Equal(got, []string{"review@remote.test"}) {
				t.Fatalf("the message to cfo@ went to %v, want review@ alone", got)
			}
			if all := sink.Deliveries(); len(all) > 4 {
				t.Errorf("%d deliveries, more than the two messages' recipients", len(all))
			}
		})
	}
}

// subjectRcpts waits until the messages with subject that reached sink have
// n recipients between them, and returns them sorted.
func subjectRcpts(t *testing.T, sink *testlib.Sink, subject string, n int) []string {
	t.Helper()
	for k := 1; ; k++ {
		var got []string
		for _, dl := range sink.WaitN(t, k, 20*time.Second) {
			if strings.Contains(string(dl.Data), "Subject: "+subject+"\r\n") {
				got = append(got, dl.Rcpts...)
			}
		}
		if len(got) >= n {
			slices.Sort(got)
			return got
		}
	}
}
