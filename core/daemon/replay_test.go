package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestReplayShowsMessageAsQueued: a message carrying a forged
// Authentication-Results field that claims our hostname, sent over SMTP
// through the spf and dmarc stages, is queued with that field removed, a
// new one of the stages' results below our Received field. sluice replay
// of the same message prints the same message: it printed the forged
// field, no new one and no Received field.
func TestReplayShowsMessageAsQueued(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dns := testlib.NewDNS(t, `example.org. 60 IN TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`_dmarc.example.org. 60 IN TXT "v=DMARC1; p=reject"`)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	src := fmt.Sprintf(`
hostname = "mx.example.org"
data_dir = %q
relay_networks = ["127.0.0.0/8"]
[dns]
servers = [%q]
[[listener]]
name   = "mx"
listen = "127.0.0.1:0"
[delivery]
relay = %q
[[stage]]
name   = "spf"
plugin = "spf"
[stage.config]
skip_networks = []
skip_relay_clients = false
[[stage]]
name   = "dmarc"
plugin = "dmarc"
[stage.config]
skip_networks = []
skip_relay_clients = false
`, filepath.Join(dir, "data"), dns.Addr, sink.Addr)
	msg := "Authentication-Results: mx.example.org; dkim=none\r\n" +
		"From: alice@example.org\r\nTo: bob@remote.test\r\nSubject: replay\r\n\r\nhi\r\n"

	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if _, err := sendFrom("127.0.0.2", d.SMTPAddrs()["mx"].String(), nil, "", "alice@example.org", "bob@remote.test", []byte(msg)); err != nil {
		t.Fatal(err)
	}
	queued := string(sink.WaitN(t, 1, 20*time.Second)[0].Data)

	res, err := Replay(context.Background(), mustParse(t, src), []byte(msg), ReplayOptions{
		From: "alice@example.org", To: []string{"bob@remote.test"}, ClientIP: "127.0.0.2", Helo: "client.test", Self: self})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "continue" {
		t.Fatalf("replay outcome %s %s", res.Outcome, res.Reply)
	}
	replayed := res.Message

	received := "\r\nReceived: from client.test ([127.0.0.2])\r\n\tby mx.example.org (Sluice) with ESMTP id replay\r\n\tfor <bob@remote.test>; "
	if !strings.Contains("\r\n"+replayed, received) {
		t.Errorf("replayed message has no Received field %q:\n%s", received[2:], replayed)
	}
	ar := "\r\nAuthentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=alice@example.org;\r\n\tdmarc=pass "
	for name, m := range map[string]string{"queued": queued, "replayed": replayed} {
		if !strings.Contains("\r\n"+m, ar) {
			t.Errorf("%s message has no %q:\n%s", name, ar[2:], m)
		}
		if strings.Contains(m, "dkim=none") {
			t.Errorf("%s message kept the forged Authentication-Results:\n%s", name, m)
		}
	}
	// But for the Received field's id and date, replay prints what was
	// queued.
	if a, b := withoutReceived(t, queued), withoutReceived(t, replayed); a != b {
		t.Errorf("queued and replayed messages differ beyond Received:\nqueued:\n%s\nreplayed:\n%s", a, b)
	}
}

// withoutReceived is m without its one Received field, folded lines and
// all.
func withoutReceived(t *testing.T, m string) string {
	t.Helper()
	m = "\r\n" + m
	i := strings.Index(m, "\r\nReceived: ")
	if i < 0 || strings.Count(m, "\r\nReceived: ") != 1 {
		t.Fatalf("want one Received field in:\n%s", m)
	}
	j := i + 2
	for {
		k := strings.Index(m[j:], "\r\n")
		if k < 0 {
			j = len(m)
			break
		}
		if j += k + 2; j >= len(m) || m[j] != '\t' && m[j] != ' ' {
			break
		}
	}
	return m[2:i+2] + m[j:]
}

// Replay tells the stages whether --ip is in relay_networks, as the
// listener does at connect: spf skips such a client (skip_relay_clients
// defaults to true), and checks one outside them.
func TestReplaySetsRelayClient(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dns := testlib.NewDNS(t, `example.org. 60 IN TXT "v=spf1 -all"`)
	src := fmt.Sprintf(`
hostname = "mx.example.org"
data_dir = %q
relay_networks = ["127.0.0.2/32"]
[dns]
servers = [%q]
[[listener]]
name   = "mx"
listen = "127.0.0.1:0"
[[stage]]
name   = "spf"
plugin = "spf"
[stage.config]
skip_networks = []
`, filepath.Join(t.TempDir(), "data"), dns.Addr)
	msg := []byte("From: alice@example.org\r\nTo: bob@remote.test\r\nSubject: r\r\n\r\nhi\r\n")
	for ip, want := range map[string]string{"127.0.0.2": "continue", "127.0.0.3": "reject"} {
		res, err := Replay(context.Background(), mustParse(t, src), msg, ReplayOptions{
			From: "alice@example.org", To: []string{"bob@remote.test"}, ClientIP: ip, Self: self})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != want {
			t.Errorf("--ip %s: outcome %s %s, want %s (trace %+v)", ip, res.Outcome, res.Reply, want, res.Trace)
		}
	}
}
