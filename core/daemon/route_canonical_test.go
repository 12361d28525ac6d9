package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestRouteSenderCanonicalEndToEnd: the route stage's sender_canonical
// and masquerade_domains rewrite the envelope sender and, the client
// being in relay_networks, the From field's address alone; the next hop
// gets both rewritten, by the sender rule that matches the rewritten
// sender. That rule is matched again at the deliver hook against the
// stored sender: had the queue kept the sender as received, the deliver
// hook would move the mail to the other relay.
func TestRouteSenderCanonicalEndToEnd(t *testing.T) {
	out := testlib.NewSink(t, "127.0.0.1:0")
	other := testlib.NewSink(t, "127.0.0.1:0")
	d := routeDaemon(t, "", fmt.Sprintf(`masquerade_domains = ["example.org"]
[stage.config.sender_canonical]
"root@web1.internal.example" = "webmaster@example.org"
"@old.example" = "@example.org"
[[stage.config.rules]]
match = "*"
sender = "example.org"
transport = "smtp:%s"
[[stage.config.rules]]
match = "*"
transport = "smtp:%s"
`, out.Addr, other.Addr))
	addr := d.SMTPAddrs()["mx"].String()
	for _, tc := range []struct{ from, header, wantFrom, wantHeader string }{
		{"root@web1.internal.example", "From: Root (cron daemon) <root@web1.internal.example>\r\n",
			"webmaster@example.org", "From: Root (cron daemon) <webmaster@example.org>\r\n"},
		{"alice+x@old.example", "From: \"Smith, Alice\" <alice+x@old.example>, bob@elsewhere.example\r\n",
			"alice+x@example.org", "From: \"Smith, Alice\" <alice+x@example.org>, bob@elsewhere.example\r\n"},
		{"carol@web2.sub.example.org", "From: carol@web2.sub.example.org\r\n",
			"carol@example.org", "From: carol@example.org\r\n"},
	} {
		msg := tc.header + "To: <bob@remote.test>\r\nSubject: canonical\r\n\r\nbody\r\n"
		if _, err := testlib.Send(addr, tc.from, []string{"bob@remote.test"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	got := out.WaitN(t, 3, 10*time.Second)
	waitEmpty(t, d)
	if n := len(other.Deliveries()); n != 0 {
		t.Errorf("the other relay got %d messages, want none: every sender is example.org's once rewritten", n)
	}
	for i, want := range []struct{ from, header string }{
		{"webmaster@example.org", "From: Root (cron daemon) <webmaster@example.org>\r\n"},
		{"alice+x@example.org", "From: \"Smith, Alice\" <alice+x@example.org>, bob@elsewhere.example\r\n"},
		{"carol@example.org", "From: carol@example.org\r\n"},
	} {
		var dl *testlib.Delivery
		for j := range got {
			if got[j].From == want.from {
				dl = &got[j]
			}
		}
		if dl == nil {
			t.Errorf("message %d: none arrived from <%s>; got %v", i, want.from, senders(got))
			continue
		}
		if !strings.Contains(string(dl.Data), "\r\n"+want.header) {
			t.Errorf("message %d from <%s>: header %q not in\n%s", i, want.from, want.header, dl.Data)
		}
	}
}

func senders(ds []testlib.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.From)
	}
	return out
}
