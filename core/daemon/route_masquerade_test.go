package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestRouteMasqueradeRecipientFieldsEndToEnd: over SMTP from a
// relay_networks client, the route stage's masquerade_domains, with
// masquerade_classes' default (Postfix's), masquerades the To and Cc
// fields' addresses as it does the sender's (root excepted), display
// names kept, while the envelope recipients reach the next hop as they
// were sent: envelope_recipient is no default class.
func TestRouteMasqueradeRecipientFieldsEndToEnd(t *testing.T) {
	out := testlib.NewSink(t, "127.0.0.1:0")
	d := routeDaemon(t, "", fmt.Sprintf(`masquerade_domains = ["example.org"]
masquerade_exceptions = ["root"]
[[stage.config.rules]]
match = "*"
transport = "smtp:%s"
`, out.Addr))
	msg := "From: Alice <alice@web1.example.org>\r\n" +
		"To: \"Bob Smith\" <bob@host.example.org>\r\n" +
		"Cc: carol@x.example.org, root@host.example.org\r\n" +
		"Subject: masquerade\r\n\r\nbody\r\n"
	rcpts := []string{"bob@host.example.org", "carol@x.example.org"}
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@web1.example.org", rcpts, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := out.WaitN(t, 1, 10*time.Second)
	waitEmpty(t, d)
	dl := got[0]
	if dl.From != "alice@example.org" {
		t.Errorf("envelope sender <%s>, want <alice@example.org>", dl.From)
	}
	if r := slices.Sorted(slices.Values(dl.Rcpts)); !slices.Equal(r, rcpts) {
		t.Errorf("envelope recipients %v, want %v as sent", r, rcpts)
	}
	for _, want := range []string{
		"\r\nFrom: Alice <alice@example.org>\r\n",
		"\r\nTo: \"Bob Smith\" <bob@example.org>\r\n",
		"\r\nCc: carol@example.org, root@host.example.org\r\n",
	} {
		if !strings.Contains(string(dl.Data), want) {
			t.Errorf("header %q not in\n%s", want, dl.Data)
		}
	}
}
