package daemon

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A filter bcc rule (Postfix's header_checks BCC), end to end over SMTP:
// the relay gets a matching message for its recipient and for the bcc
// address, the copy with NOTIFY=NEVER and the header untouched, and the
// trace names the rule and the recipient added; a message the rule does
// not match goes to its recipient alone.
func TestFilterBccOverSMTP(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
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
%s
[[stage]]
name = "filter"
plugin = "filter"
[[stage.config.rules]]
name   = "invoices"
hook   = "header"
header = "Subject"
match  = "(?i)invoice"
action = "bcc"
bcc    = "archive@remote.test"
`, filepath.Join(t.TempDir(), "data"), relayTo(sink))
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	// Not matched first: its delivery is the first the relay gets.
	if _, err := send(t, d, "lunch"); err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 20*time.Second)
	if !slices.Equal(got[0].Rcpts, []string{"bob@remote.test"}) {
		t.Fatalf("unmatched message went to %v, want bob alone", got[0].Rcpts)
	}

	r, err := send(t, d, "Your invoice")
	if err != nil {
		t.Fatal(err)
	}
	// The two recipients share the relay: one transaction, or one each.
	var rcpts []string
	var notify = map[string][]smtp.DSNNotify{}
	for n := 2; len(rcpts) < 2; n++ {
		dl := sink.WaitN(t, n, 20*time.Second)[n-1]
		if !strings.Contains(string(dl.Data), "Subject: Your invoice\r\n") {
			t.Fatalf("delivery %d is not the invoice: to %v\n%s", n, dl.Rcpts, dl.Data)
		}
		if strings.Contains(string(dl.Data), "archive@") {
			t.Errorf("the copy's address is in the message, not the envelope alone:\n%s", dl.Data)
		}
		for i, rc := range dl.Rcpts {
			rcpts = append(rcpts, rc)
			notify[rc] = dl.RcptOpts[i].Notify
		}
	}
	slices.Sort(rcpts)
	if !slices.Equal(rcpts, []string{"archive@remote.test", "bob@remote.test"}) {
		t.Fatalf("invoice went to %v, want bob and archive", rcpts)
	}
	if n := notify["archive@remote.test"]; !slices.Equal(n, []smtp.DSNNotify{smtp.DSNNotifyNever}) {
		t.Errorf("copy's NOTIFY %v, want NEVER (Postfix's BCC: the sender hears nothing of it)", n)
	}
	if n := notify["bob@remote.test"]; len(n) != 0 {
		t.Errorf("bob's NOTIFY %v, want none (as the client sent it)", n)
	}

	found := false
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Stage == "filter" && e.Hook == "data" && strings.Contains(e.Reason, `rule "invoices" (bcc)`) {
			found = true
			if !strings.Contains(e.Reason, "copy to <archive@remote.test>") || !slices.Contains(e.Edits, "add recipient <archive@remote.test>") {
				t.Errorf("trace entry reason %q edits %q: want the copy and its recipient", e.Reason, e.Edits)
			}
		}
	}
	if !found {
		t.Error("trace has no filter entry at data naming the bcc rule")
	}
	if all := sink.Deliveries(); len(all) > 3 {
		t.Errorf("%d deliveries, want the unmatched message and the invoice", len(all))
	}
}
