package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// The verify plugin, run by the daemon as its own process: a gateway
// asks its mailbox server (a go-smtp sink, which is also where the mail
// is relayed) at RCPT, lets the known user's mail through and refuses the
// unknown one with reject_code, the server's words kept out of the reply
// and in the trace; the second message to the known user is not asked
// about again, and the result is kept in the stage's state directory.
func TestVerifyStageEndToEnd(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	box := testlib.NewSink(t, "127.0.0.1:0")
	var mu sync.Mutex
	var asked []string
	box.OnRcpt(func(rcpt string) error {
		mu.Lock()
		asked = append(asked, rcpt)
		mu.Unlock()
		if rcpt != "alice@example.org" {
			return testlib.Perm
		}
		return nil
	})
	data := filepath.Join(t.TempDir(), "data")
	src := fmt.Sprintf(`hostname = "gw.sluice.test"
data_dir = %q
local_domains = ["example.org"]
relay_networks = ["192.0.2.0/24"]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[delivery]
relay = %q
[[stage]]
name = "verify"
plugin = "verify"
[stage.config]
next_hop = %q
domains = ["example.org"]
reject_code = 550
`, data, box.Addr, box.Addr)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	addr := d.SMTPAddrs()["mx"].String()
	from := "sender@origin.test"

	_, err = testlib.Send(addr, from, []string{"bob@example.org"}, testlib.Message(from, "bob@example.org", "to bob", "hi"))
	want := "550 5.1.1 <bob@example.org>: Recipient address rejected: undeliverable address: refused by the next mail server"
	if err == nil || err.Error() != want {
		t.Fatalf("unknown recipient: %v, want %s", err, want)
	}
	r, err := testlib.Send(addr, from, []string{"alice@example.org"}, testlib.Message(from, "alice@example.org", "to alice", "hi"))
	if err != nil {
		t.Fatalf("known recipient: %v", err)
	}
	var why string
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Stage == "verify" && e.Hook == "rcpt" {
			why = e.Reason
		}
	}
	if !strings.Contains(why, "<alice@example.org> deliverable (asked "+box.Addr+")") {
		t.Errorf("trace of the verify stage: %q", why)
	}
	box.WaitN(t, 1, 20*time.Second)
	if _, err := testlib.Send(addr, from, []string{"alice@example.org"}, testlib.Message(from, "alice@example.org", "again", "hi")); err != nil {
		t.Fatalf("known recipient again: %v", err)
	}
	box.WaitN(t, 2, 20*time.Second)
	mu.Lock()
	got := strings.Join(asked, " ")
	mu.Unlock()
	// A probe each for bob and alice, then the two deliveries to alice.
	if want := "bob@example.org alice@example.org alice@example.org alice@example.org"; got != want {
		t.Errorf("the mailbox server was asked %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(data, "plugins", "verify", "verify.json")); err != nil {
		t.Errorf("the stage's state directory: %v", err)
	}
}
