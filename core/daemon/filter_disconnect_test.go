package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Postfix's access(5) "421 text" and "521 text" reject and disconnect
// (smtpd_chat_reply hangs up after any 421 or 521). The filter plugin's
// tables, in its own process, hand both codes through, and the session
// ends with them: at mail and rcpt, at connect in place of the greeting
// (RFC 7504 §3), and under delay_reject at the RCPT that answers a held
// connect refusal. Each reply line is followed by the end of the stream.
func TestFilterAccessClosingRepliesDisconnect(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	clients := filepath.Join(dir, "client.cidr")
	senders := filepath.Join(dir, "sender_access")
	rcpts := filepath.Join(dir, "recipient_access")
	replaceFile(t, senders, "go-away.example  421 go away\n")
	replaceFile(t, rcpts, "nope@sluice.test  521 5.1.1 nope\n")
	start := func(delayReject bool, clientTable string) *Daemon {
		t.Helper()
		replaceFile(t, clients, clientTable)
		src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
delay_reject = %t
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[[stage]]
name = "filter"
plugin = "filter"
[[stage.config.rules]]
name   = "clients"
hook   = "connect"
access = "cidr:%s"
[[stage.config.rules]]
name   = "senders"
hook   = "mail"
access = "hash:%s"
[[stage.config.rules]]
name   = "rcpts"
hook   = "rcpt"
access = "hash:%s"
`, filepath.Join(dir, fmt.Sprintf("data-%t", delayReject)), delayReject, clients, senders, rcpts)
		d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Stop() })
		return d
	}

	d := start(false, "192.0.2.0/24  521 not you\n")
	rc := dialRaw(t, d)
	rc.must("EHLO client.test", "250")
	rc.expectLast("MAIL FROM:<x@go-away.example>", "421 4.7.1 <x@go-away.example>: Sender address rejected: go away")

	rc = dialRaw(t, d)
	rc.envelope("a@sluice.test")
	rc.expectLast("RCPT TO:<nope@sluice.test>", "521 5.1.1 <nope@sluice.test>: Recipient address rejected: nope")

	// The client table matched nothing so far; now it matches loopback,
	// named localhost without DNS.
	replaceFile(t, clients, "127.0.0.0/8  521 not you\n")
	greetingThenEOF(t, d.SMTPAddrs()["mx"].String(), "521 5.7.1 <localhost[127.0.0.1]>: Client host rejected: not you")

	// delay_reject holds the connect refusal until the first RCPT.
	d = start(true, "127.0.0.0/8  521 not you\n")
	rc = dialRaw(t, d)
	rc.envelope("a@sluice.test")
	rc.expectLast("RCPT TO:<b@sluice.test>", "521 5.7.1 <localhost[127.0.0.1]>: Client host rejected: not you")
}

// expectLast sends line, expects want as its reply and then the end of
// the stream: the server closed the connection, not a timeout.
func (rc *rawClient) expectLast(line, want string) {
	rc.t.Helper()
	if got := rc.cmd(line); got != want {
		rc.t.Fatalf("%q: got %q, want %q", line, got, want)
	}
	expectEOF(rc.t, rc.c, rc.r)
}

// greetingThenEOF connects to addr and expects want in place of the
// greeting, then the end of the stream.
func greetingThenEOF(t *testing.T, addr, want string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if l, err := r.ReadString('\n'); err != nil || strings.TrimRight(l, "\r\n") != want {
		t.Fatalf("greeting %q (err %v), want %q", l, err, want)
	}
	expectEOF(t, c, r)
}

// expectEOF asserts that nothing more comes from c but its end.
func expectEOF(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := r.ReadString('\n')
	if !errors.Is(err, io.EOF) || l != "" {
		t.Fatalf("after the reply: %q (err %v), want the connection closed", l, err)
	}
}
