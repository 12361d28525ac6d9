package daemon

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// batvTestTag is addr tagged with key number 0, expiry day ddd (three
// digits), computed here apart from the route stage's code
// (draft-levine-smtp-batv-01 §4.1).
func batvTestTag(secret, ddd, addr string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte("0" + ddd + addr))
	return "prvs=0" + ddd + hex.EncodeToString(h.Sum(nil)[:3]) + "=" + addr
}

// sendFromOutside sends as a client at 127.0.0.2, outside relay_networks.
func sendFromOutside(addr, from string, to []string, data []byte) (string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("mx.remote.test"); err != nil {
		return "", testlib.WireError(err)
	}
	return testlib.Transact(c, from, to, data)
}

// TestRouteBATVEndToEnd: a relay client's mail to another domain goes
// out with a tagged sender; the bounce to it from outside is taken and
// reaches the user's mailbox server untagged; a forged or expired tag is
// refused, and with reject_untagged so is a bounce from outside to the
// untagged address.
func TestRouteBATVEndToEnd(t *testing.T) {
	remote := testlib.NewSink(t, "127.0.0.1:0")
	mailbox := testlib.NewSink(t, "127.0.0.1:0")
	self := testlib.Build(t, "./cmd/sluice")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.1/32"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "route"
plugin = "route"
[stage.config.batv]
secrets = ["t0p-secret"]
reject_untagged = true
[[stage.config.rules]]
match = "sluice.test"
transport = %q
`, t.TempDir(), relayTo(remote), "smtp:"+mailbox.Addr)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	addr := d.SMTPAddrs()["mx"].String()

	msg := testlib.Message("alice@sluice.test", "dave@remote.test", "hello", "tagged")
	if _, err := testlib.Send(addr, "alice@sluice.test", []string{"dave@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	got := remote.WaitN(t, 1, 10*time.Second)[0]
	// Checked with the expiry day it carries, so that a midnight between
	// sending and checking does not matter.
	ddd := strings.TrimPrefix(got.From, "prvs=0")
	if len(ddd) < 3 || got.From != batvTestTag("t0p-secret", ddd[:3], "alice@sluice.test") {
		t.Fatalf("the remote got MAIL FROM:<%s>, want alice@sluice.test tagged", got.From)
	}
	if !strings.Contains(string(got.Data), "From: <alice@sluice.test>\r\n") {
		t.Errorf("the From field changed:\n%s", got.Data)
	}

	// remote.test bounces it.
	if _, err := sendFromOutside(addr, "", []string{got.From}, testlib.Message("mailer-daemon@remote.test", got.From, "bounce", "undeliverable")); err != nil {
		t.Fatalf("the bounce to <%s>: %v", got.From, err)
	}
	b := mailbox.WaitN(t, 1, 10*time.Second)[0]
	if b.From != "" || len(b.Rcpts) != 1 || b.Rcpts[0] != "alice@sluice.test" {
		t.Errorf("the bounce reached the mailbox from <%s> to %q, want from <> to alice@sluice.test", b.From, b.Rcpts)
	}

	yesterday := fmt.Sprintf("%03d", (time.Now().Unix()/86400-1)%1000)
	for name, rcpt := range map[string]string{
		"forged":   batvTestTag("guessed", ddd[:3], "alice@sluice.test"),
		"expired":  batvTestTag("t0p-secret", yesterday, "alice@sluice.test"),
		"untagged": "alice@sluice.test",
	} {
		_, err := sendFromOutside(addr, "", []string{rcpt}, testlib.Message("mailer-daemon@remote.test", rcpt, name, name))
		if err == nil || !strings.HasPrefix(err.Error(), "550 5.7.1 Recipient address rejected: ") {
			t.Errorf("%s <%s>: %v, want 550 5.7.1", name, rcpt, err)
		}
	}
	waitEmpty(t, d)
	if n := len(mailbox.Deliveries()); n != 1 {
		t.Errorf("the mailbox got %d messages, want 1", n)
	}
}
