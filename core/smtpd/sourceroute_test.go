package smtpd

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

const refusedRoute = "553 5.7.1 Source routes are not accepted"

// RFC 5321 §4.1.2 A-d-l: a source route is refused in MAIL and RCPT, from
// a client that may relay (127.0.0.1 in relay_networks) and from one that
// may not, whatever the mailbox after it.
func TestSourceRouteRefused(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		name := "untrusted"
		if trusted {
			name = "relay_networks"
		}
		t.Run(name, func(t *testing.T) {
			h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 20 }), func(o *Options) {
				if trusted {
					o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
				}
			})
			d := h.dial()
			d.ehlo()
			d.cmd("MAIL FROM:<@a:x@example.org>", refusedRoute)
			d.cmd("mail from: <@a.example,@b.example:x@example.org> SIZE=10", refusedRoute)
			d.cmd("MAIL FROM:@a:x@example.org", refusedRoute) // go-smtp takes a path without <>
			d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
			for _, rcpt := range []string{
				"RCPT TO:<@a,@b:user@example.org>",
				"RCPT TO:<@a,@b:user@elsewhere.example>",
				"rcpt to:<@A:user@example.org>",
				"RCPT TO: <@a:user@example.org> NOTIFY=NEVER",
				`RCPT TO:<@a:"us er"@example.org>`,
			} {
				d.cmd(rcpt, refusedRoute)
			}
			d.cmd("RCPT TO:<user@example.org>", "250 2.0.0 I'll make sure <user@example.org> gets this")
			if got := len(h.messages()); got != 0 {
				t.Fatalf("%d messages queued", got)
			}
		})
	}
}

// With PIPELINING (RFC 2920) the route belongs to its own command: the
// same mailbox without a route, in the same write, is accepted; so is one
// after a routed command that go-smtp refuses before the session sees it.
func TestSourceRoutePipelined(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.send("MAIL FROM:<a@example.org>",
		"RCPT TO:<@a,@b:user@example.org>",
		"RCPT TO:<user@example.org>",
		"RCPT TO:<@a:b@example.org> BOGUS=1",
		"RCPT TO:<b@example.org>",
		"RCPT TO:<@a:user@example.org>",
		"DATA")
	d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>",
		refusedRoute,
		"250 2.0.0 I'll make sure <user@example.org> gets this",
		"500 5.5.4 Unknown RCPT TO argument",
		"250 2.0.0 I'll make sure <b@example.org> gets this",
		refusedRoute,
		"354 *")
	d.send("Subject: x", "", "body", ".")
	d.queued()
	m, _ := h.only()
	if len(m.Rcpts) != 2 || m.Rcpts[0].Addr != "user@example.org" || m.Rcpts[1].Addr != "b@example.org" {
		t.Errorf("recipients %+v", m.Rcpts)
	}
}

// Message content is not commands: a DATA payload or a BDAT chunk holding a
// routed RCPT line changes nothing, before or after.
func TestSourceRouteInMessage(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	// The payload comes in the same write as DATA, and the next
	// transaction right behind it.
	d.send("DATA", "Subject: x", "", "RCPT TO:<@a:b@example.org>", "MAIL FROM:<@a:b@example.org>", ".",
		"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>")
	d.expect("354 *")
	d.queued()
	d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>",
		"250 2.0.0 I'll make sure <b@example.org> gets this")
	chunk := "RCPT TO:<@a:b@example.org>\r\n.\r\nRCPT TO:<@a:b@example.org>\r\n"
	d.send(fmt.Sprintf("BDAT %d LAST", len(chunk)))
	d.raw(chunk)
	d.queued()
	d.envelope("b@example.org")
	d.cmd("RCPT TO:<@a:b@example.org>", refusedRoute)
	if got := len(h.messages()); got != 2 {
		t.Fatalf("%d messages queued, want 2", got)
	}
}

// A refused DATA (no recipient) has no payload: what follows is commands.
func TestSourceRouteAfterRefusedData(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.send("MAIL FROM:<a@example.org>", "DATA", "RCPT TO:<@a:b@example.org>", "RCPT TO:<b@example.org>")
	d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>",
		"502 5.5.1 Missing RCPT TO command.",
		refusedRoute,
		"250 2.0.0 I'll make sure <b@example.org> gets this")
}

// Under TLS the scanner sees only ciphertext and stops (sourceroute.go):
// after STARTTLS a route is dropped by go-smtp as before and the mailbox is
// judged like any other. A route sent in the clear before STARTTLS does
// not leak into the TLS session.
func TestSourceRouteAfterSTARTTLS(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt)
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("RCPT TO:<@a:c@example.org>", "250 2.0.0 I'll make sure <c@example.org> gets this")
	d.cmd("RCPT TO:<@a:c@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.send("DATA", "Subject: x", "", "body", ".")
	d.expect("354 *")
	d.queued()
}

// The scanner alone, fed as go-smtp reads and writes.
func TestRouteScanner(t *testing.T) {
	r := newRouteScanner(1000, false)
	r.wrote([]byte("220 mx.test ESMTP Service Ready\r\n"))
	// Lines split across reads, several in one read.
	for _, p := range []string{"EHLO a\r\nMAIL FROM:<@a:x@", "y>\r\nRCPT TO:<@b:u@v>\r", "\nRCPT TO:<u@v>\r\n"} {
		r.read([]byte(p))
	}
	r.wrote([]byte("250-mx.test\r\n250 PIPELINING\r\n"))
	if !r.take("MAIL", "x@y") {
		t.Error("MAIL route not seen")
	}
	r.wrote([]byte("553 5.7.1 no\r\n"))
	if r.take("RCPT", "other@v") {
		t.Error("route matched another mailbox")
	}
	if !r.take("RCPT", "u@v") {
		t.Error("RCPT route not seen")
	}
	r.wrote([]byte("553 5.7.1 no\r\n"))
	if r.take("RCPT", "u@v") {
		t.Error("route of an answered command matched")
	}
	if len(r.routed) != 0 {
		t.Errorf("routes left: %+v", r.routed)
	}

	// A payload ends only at CRLF "." CRLF, as go-smtp's dataReader.
	r.wrote([]byte("250 ok\r\n"))
	r.read([]byte("DATA\r\nRCPT TO:<@a:b@c>\r\n.x\r\n\r\r\n.\r\nRCPT TO:<@a:b@c>\n"))
	if len(r.routed) != 0 {
		t.Fatalf("DATA before its reply: %+v", r.routed)
	}
	r.wrote([]byte("354 go ahead\r\n"))
	if len(r.routed) != 0 || r.mode != scanData {
		t.Fatalf("payload scanned as commands: %+v", r.routed)
	}
	r.read([]byte("\r\n.\r\nRCPT TO:<@d:e@f>\r\n"))
	if len(r.routed) != 1 || r.routed[0].addr != "e@f" || r.mode != scanCommand {
		t.Fatalf("after payload: %+v, mode %d", r.routed, r.mode)
	}
	r.wrote([]byte("250 queued\r\n"))
	if !r.take("RCPT", "e@f") {
		t.Error("route after a payload not seen")
	}

	// A BDAT chunk is skipped by count.
	r.wrote([]byte("553 no\r\n"))
	r.read([]byte("BDAT 20\r\nRCPT TO:<@a:b@c>\r\n\r\n"))
	r.read([]byte("RCPT TO:<@g:h@i>\r\n"))
	if len(r.routed) != 1 || r.routed[0].addr != "h@i" {
		t.Fatalf("after BDAT: %+v", r.routed)
	}

	// STARTTLS: what follows its 220 is ciphertext.
	r = newRouteScanner(1000, false)
	r.wrote([]byte("220 hi\r\n"))
	r.read([]byte("STARTTLS\r\nRCPT TO:<@a:b@c>\r\n"))
	r.wrote([]byte("220 2.0.0 Ready to start TLS\r\n"))
	r.read([]byte("RCPT TO:<@a:b@c>\r\n"))
	if r.mode != scanOff || len(r.routed) != 0 || r.take("RCPT", "b@c") {
		t.Errorf("scanning under TLS: mode %d, %+v", r.mode, r.routed)
	}
}

func TestPathMailbox(t *testing.T) {
	for _, tc := range []struct{ in, addr, rest string }{
		{"u@v>", "u@v", ">"},
		{`"a b"@v> X=1`, "a b@v", "> X=1"},
		{`"a\"b"@v`, `a"b@v`, ""},
		{"u@v w", "u@v", " w"},
		{"u@", "", ""},
		{"@v", "", ""},
		{"a,b@v", "", ""},
		{`"a`, "", ""},
	} {
		addr, rest, ok := pathMailbox(tc.in)
		if addr != tc.addr || ok && rest != tc.rest || ok != (tc.addr != "") {
			t.Errorf("pathMailbox(%q) = %q, %q, %v; want %q, %q", tc.in, addr, rest, ok, tc.addr, tc.rest)
		}
	}
}
