package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// envelopeDaemon is a daemon with a plugin that echoes what it is shown,
// then a recording milter, relaying to a sink.
func envelopeDaemon(t *testing.T) (*Daemon, *testlib.Sink, *milterRecord) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, rec := startRecMilter(t)
	return startDaemon(t, relayTo(sink)+echoStage(t, "a")+milterStage("m", addr, "")), sink, rec
}

// 8-bit bytes in MAIL FROM and RCPT TO: UTF-8 without SMTPUTF8 is
// refused with 553 5.6.7 (RFC 6531 §3.6), bytes that are not UTF-8 with
// 501 5.1.7 / 5.1.3 (bad syntax), SMTPUTF8 or not; nothing reaches the
// stages, and the session goes on.
func TestBadInputEightBitEnvelopeRefused(t *testing.T) {
	d, _, rec := envelopeDaemon(t)
	rc := dialRaw(t, d)
	rc.must("EHLO client.test", "250")
	for _, tc := range []struct{ cmd, want string }{
		{"MAIL FROM:<al\xc3\xa9@sluice.test>", "553 5.6.7"},      // UTF-8, no SMTPUTF8
		{"MAIL FROM:<al\xe9@sluice.test>", "501 5.1.7"},          // Latin-1, no SMTPUTF8
		{"MAIL FROM:<al\xe9@sluice.test> SMTPUTF8", "501 5.1.7"}, // not UTF-8
		{"MAIL FROM:<alice@sluice.t\xe9st> SMTPUTF8", "501 5.1.7"},
	} {
		if r := rc.cmd(tc.cmd); !strings.HasPrefix(r, tc.want) {
			t.Errorf("%q: %q, want %s", tc.cmd, r, tc.want)
		}
	}
	rc.must("MAIL FROM:<alice@sluice.test>", "250")
	for _, tc := range []struct{ cmd, want string }{
		{"RCPT TO:<b\xc3\xb8b@remote.test>", "553 5.6.7"},
		{"RCPT TO:<b\xf8b@remote.test>", "501 5.1.3"},
	} {
		if r := rc.cmd(tc.cmd); !strings.HasPrefix(r, tc.want) {
			t.Errorf("%q: %q, want %s", tc.cmd, r, tc.want)
		}
	}
	rc.must("RSET", "250")
	rc.must("MAIL FROM:<alice@sluice.test> SMTPUTF8", "250")
	if r := rc.cmd("RCPT TO:<b\xf8b@remote.test>"); !strings.HasPrefix(r, "501 5.1.3") {
		t.Errorf("RCPT not UTF-8 under SMTPUTF8: %q", r)
	}
	rc.must("RSET", "250")
	rc.must("QUIT", "221")
	if n := len(rec.all()); n != 0 {
		t.Fatalf("milter shown %d messages", n)
	}
}

// With SMTPUTF8 and UTF-8 addresses the message goes through the plugin
// and the milter, which both see the addresses, and is relayed with them.
func TestBadInputSMTPUTF8Envelope(t *testing.T) {
	d, sink, rec := envelopeDaemon(t)
	rc := dialRaw(t, d)
	rc.must("EHLO client.test", "250")
	rc.must("MAIL FROM:<al\xc3\xa9@sluice.test> SMTPUTF8", "250")
	rc.must("RCPT TO:<b\xc3\xb8b@r\xc3\xa9mote.test>", "250")
	if r := rc.data("Subject: utf8\r\n\r\nbody\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("SMTPUTF8 message: %q", r)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if got.From != "al\xc3\xa9@sluice.test" || got.Rcpts[0] != "b\xc3\xb8b@r\xc3\xa9mote.test" {
		t.Fatalf("relayed envelope %q %q", got.From, got.Rcpts)
	}
	data := string(got.Data)
	if !strings.Contains(data, `X-Echo-From: "al\xc3\xa9@sluice.test"`) && !strings.Contains(data, "X-Echo-From: \"al\u00e9@sluice.test\"") {
		t.Fatalf("plugin saw:\n%s", data)
	}
	seen := rec.all()[0]
	if strings.Trim(seen.From, "<>") != "al\xc3\xa9@sluice.test" || len(seen.Rcpts) != 1 || strings.Trim(seen.Rcpts[0], "<>") != "b\xc3\xb8b@r\xc3\xa9mote.test" {
		t.Fatalf("milter saw %q %q", seen.From, seen.Rcpts)
	}
}

// An 8-bit EHLO argument (Latin-1, not UTF-8): the session goes on, the
// plugin sees U+FFFD for the byte, the milter the byte, and the message is
// relayed.
func TestBadInputEightBitHelo(t *testing.T) {
	d, sink, rec := envelopeDaemon(t)
	rc := dialRaw(t, d)
	r := rc.cmd("EHLO cl\xe9nt.test")
	if strings.HasPrefix(r, "5") {
		// Refusing a malformed EHLO is right too; the client can send a
		// proper one.
		rc.must("EHLO client.test", "250")
		return
	}
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("8-bit EHLO: %q", r)
	}
	rc.must("MAIL FROM:<alice@sluice.test>", "250")
	rc.must("RCPT TO:<bob@remote.test>", "250")
	if r := rc.data("Subject: helo\r\n\r\nbody\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("message after an 8-bit EHLO: %q", r)
	}
	data := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.Contains(data, "X-Echo-Helo: \"cl\uFFFDnt.test\"\r\n") || !strings.Contains(data, "X-Milter: seen") {
		t.Fatalf("relayed:\n%q", data)
	}
	if h := rec.all()[0].Helo; h != "cl\xe9nt.test" {
		t.Fatalf("milter saw HELO %q", h)
	}
}

// DSN parameters whose xtext decodes to 8-bit: ENVID must be printable
// ASCII (RFC 3461 §4.4) and ORCPT's rfc822 type too: 501 5.5.4. A
// utf-8-addr (RFC 6533) ORCPT must be UTF-8: raw bytes that are not are
// refused with 501 5.5.4 too (they used to be accepted and relayed as
// U+FFFD); an escaped \x{E9} is UTF-8 and goes through the plugin and the
// milter to the next hop.
func TestBadInputEightBitDSNParams(t *testing.T) {
	d, sink, rec := envelopeDaemon(t)
	rc := dialRaw(t, d)
	rc.must("EHLO client.test", "250")
	for _, c := range []string{
		"MAIL FROM:<alice@sluice.test> ENVID=ab+E9cd",
		"MAIL FROM:<alice@sluice.test> ENVID=ab\xe9cd",
	} {
		if r := rc.cmd(c); !strings.HasPrefix(r, "501 5.5.4") {
			t.Errorf("%q: %q, want 501 5.5.4", c, r)
		}
	}
	rc.must("MAIL FROM:<alice@sluice.test> ENVID=ab+2Bcd", "250")
	for _, c := range []string{
		"RCPT TO:<bob@remote.test> ORCPT=rfc822;b+E9b@remote.test",
		"RCPT TO:<bob@remote.test> ORCPT=rfc822;b\xe9b@remote.test",
	} {
		if r := rc.cmd(c); !strings.HasPrefix(r, "501 5.5.4") {
			t.Errorf("%q: %q, want 501 5.5.4", c, r)
		}
	}
	if r := rc.cmd("RCPT TO:<bob@remote.test> ORCPT=utf-8;b\xe9b@remote.test"); !strings.HasPrefix(r, "501 5.5.4") {
		t.Errorf("ORCPT utf-8 that is not UTF-8: %q, want 501 5.5.4", r)
	}
	rc.must("RCPT TO:<bob@remote.test> ORCPT=utf-8;b\\x{E9}b@remote.test", "250")
	if r := rc.data("Subject: dsn\r\n\r\nbody\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %q", r)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	data := string(got.Data)
	if !strings.Contains(data, "X-Echo-Rcpts: \"bob@remote.test\"") || !strings.Contains(data, "X-Milter: seen") {
		t.Fatalf("relayed:\n%s", data)
	}
	if !strings.Contains(data, `"ENVID":"ab+cd"`) && !strings.Contains(data, `"ENVID":"ab+2Bcd"`) {
		t.Errorf("plugin saw MAIL params:\n%s", data)
	}
	seen := rec.all()[0]
	if len(seen.Rcpts) != 1 {
		t.Fatalf("milter saw %q", seen.Rcpts)
	}
	if o := got.RcptOpts[0]; o.OriginalRecipient != "b\u00e9b@remote.test" {
		t.Errorf("relayed ORCPT %q", o.OriginalRecipient)
	}
}
