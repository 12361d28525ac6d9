package daemon

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// routeDaemon starts a daemon whose only stage is the route plugin with
// config (a [stage.config] body, its tables included).
func routeDaemon(t *testing.T, top, config string) *Daemon {
	t.Helper()
	self := testlib.Build(t, "./cmd/sluice")
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
[stage.config]
%s`, t.TempDir(), top, config)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

// sinkRcpts waits until s has been sent at least n recipients and
// returns each recipient's RCPT parameters.
func sinkRcpts(t *testing.T, s *testlib.Sink, n int) map[string]smtp.RcptOptions {
	t.Helper()
	for k := 1; ; k++ {
		got := map[string]smtp.RcptOptions{}
		for _, d := range s.WaitN(t, k, 10*time.Second) {
			for i, r := range d.Rcpts {
				got[r] = d.RcptOpts[i]
			}
		}
		if len(got) >= n {
			return got
		}
	}
}

// TestRouteSenderRuleEndToEnd: with Postfix's sender-dependent relay
// written as a route rule with a sender, brand-a's mail to anywhere goes
// to its provider and other mail to the next rule's, both at reception
// and at the deliver hook, which matches the stored sender (a wrong
// sender there would move brand-a's mail back to the other relay).
func TestRouteSenderRuleEndToEnd(t *testing.T) {
	espA := testlib.NewSink(t, "127.0.0.1:0")
	other := testlib.NewSink(t, "127.0.0.1:0")
	d := routeDaemon(t, "", fmt.Sprintf(`[[stage.config.rules]]
match = "*"
sender = "brand-a.example"
transport = "smtp:%s"
[[stage.config.rules]]
match = "*"
transport = "smtp:%s"
`, espA.Addr, other.Addr))
	addr := d.SMTPAddrs()["mx"].String()
	if _, err := testlib.Send(addr, "news+june@brand-a.example", []string{"bob@remote.test"},
		testlib.Message("news@brand-a.example", "bob@remote.test", "brand-a", "brand-a's news")); err != nil {
		t.Fatal(err)
	}
	if _, err := testlib.Send(addr, "alice@sluice.test", []string{"carol@remote.test"},
		testlib.Message("alice@sluice.test", "carol@remote.test", "alice", "alice's mail")); err != nil {
		t.Fatal(err)
	}
	a := espA.WaitN(t, 1, 10*time.Second)
	b := other.WaitN(t, 1, 10*time.Second)
	waitEmpty(t, d)
	if len(a) != 1 || a[0].From != "news+june@brand-a.example" || !slices.Equal(a[0].Rcpts, []string{"bob@remote.test"}) {
		t.Errorf("brand-a's provider got %d messages, the first from <%s> to %q; want brand-a's alone", len(espA.Deliveries()), a[0].From, a[0].Rcpts)
	}
	if got := other.Deliveries(); len(got) != 1 || got[0].From != "alice@sluice.test" || !slices.Equal(b[0].Rcpts, []string{"carol@remote.test"}) {
		t.Errorf("the other relay got %d messages, the first from <%s> to %q; want alice's alone", len(got), b[0].From, b[0].Rcpts)
	}
}

// TestRouteBccEndToEnd: always_bcc, sender_bcc and recipient_bcc add
// their addresses at DATA; the copies, routed by the rule for their
// domain, reach the archive's server with NOTIFY=NEVER, and the message's
// own recipients go on as they were, without NOTIFY.
func TestRouteBccEndToEnd(t *testing.T) {
	relay := testlib.NewSink(t, "127.0.0.1:0")
	archive := testlib.NewSink(t, "127.0.0.1:0")
	d := routeDaemon(t, relayTo(relay), fmt.Sprintf(`always_bcc = "all@archive.test"
[stage.config.sender_bcc]
"@sluice.test" = "out@archive.test"
[stage.config.recipient_bcc]
"bob@remote.test" = "bob-copy@archive.test"
[[stage.config.rules]]
match = "archive.test"
transport = "smtp:%s"
`, archive.Addr))
	if _, err := send(t, d, "archived", "bob@remote.test", "carol@remote.test"); err != nil {
		t.Fatal(err)
	}
	got := sinkRcpts(t, archive, 3)
	waitEmpty(t, d)
	for _, a := range []string{"all@archive.test", "out@archive.test", "bob-copy@archive.test"} {
		o, ok := got[a]
		if !ok || !slices.Equal(o.Notify, []smtp.DSNNotify{smtp.DSNNotifyNever}) {
			t.Errorf("archive: %s arrived %v with NOTIFY=%v, want a copy with NOTIFY=NEVER", a, ok, o.Notify)
		}
	}
	if len(got) != 3 {
		t.Errorf("archive got %d recipients, want 3: %v", len(got), got)
	}
	sent := sinkRcpts(t, relay, 2)
	for _, a := range []string{"bob@remote.test", "carol@remote.test"} {
		if o, ok := sent[a]; !ok || len(o.Notify) != 0 {
			t.Errorf("relay: %s arrived %v with NOTIFY=%v, want it as sent", a, ok, o.Notify)
		}
	}
	if len(sent) != 2 {
		t.Errorf("relay got %v, want the two recipients alone", sent)
	}
}
