package smtpd

import (
	"fmt"
	"net/netip"
	"slices"
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
// after a routed command that go-smtp refuses before the session sees it
// (an unknown parameter: 500, as for any path).
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
		"555 5.5.4 Unknown RCPT TO argument",
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
// routed RCPT line is queued as it is, and commands after it are judged.
func TestSourceRouteInMessage(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	// The next transaction comes in the same write as the payload, right
	// behind it (RFC 2920 §3.1 lets the content begin a group).
	d.cmd("DATA", "354 *")
	d.send("Subject: x", "", "RCPT TO:<@a:b@example.org>", "MAIL FROM:<@a:b@example.org>", ".",
		"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>")
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
// Only a client that did not wait for DATA's reply sends them so, which
// forbid_unauth_pipelining refuses (TestPipeliningRefused): it is off.
func TestSourceRouteAfterRefusedData(t *testing.T) {
	h := start(t, withPipelining(false))
	d := h.dial()
	d.ehlo()
	d.send("MAIL FROM:<a@example.org>", "DATA", "RCPT TO:<@a:b@example.org>", "RCPT TO:<b@example.org>")
	d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>",
		"554 5.5.1 No valid recipients",
		refusedRoute,
		"250 2.0.0 I'll make sure <b@example.org> gets this")
}

// routeDialog runs MAIL and RCPT with routes of one and of several hops
// on a session that is greeted (and authenticated, if relay): every one is
// refused, whatever the mailbox after it, and the same mailboxes without a
// route are judged as usual and queued.
func routeDialog(t *testing.T, h *harness, d *dialog, relay bool) {
	t.Helper()
	d.cmd("MAIL FROM:<@a.example:alice@example.org>", refusedRoute)
	d.cmd("mail from: <@a.example,@b.example,@c.example:alice@example.org> SIZE=10", refusedRoute)
	d.cmd("MAIL FROM:<alice@example.org>", "250 2.0.0 Roger, accepting mail from <alice@example.org>")
	d.cmd("RCPT TO:<@a.example:user@example.org>", refusedRoute)
	d.cmd("RCPT TO:<@a.example,@b.example:user@example.org>", refusedRoute)
	d.cmd("RCPT TO:<@a.example,@b.example,@c.example:x@elsewhere.example> NOTIFY=NEVER", refusedRoute)
	d.cmd("RCPT TO:<@example.org:x@elsewhere.example>", refusedRoute)
	want := []string{"user@example.org"}
	d.cmd("RCPT TO:<user@example.org>", "250 2.0.0 I'll make sure <user@example.org> gets this")
	if relay {
		// The route is refused although the mailbox alone would relay.
		d.cmd("RCPT TO:<x@elsewhere.example>", "250 2.0.0 I'll make sure <x@elsewhere.example> gets this")
		want = append(want, "x@elsewhere.example")
	} else {
		d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	}
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nhi\r\n.\r\n")
	d.queued()
	m, _ := h.only()
	var got []string
	for _, rc := range m.Rcpts {
		got = append(got, rc.Addr)
	}
	if m.From != "alice@example.org" || !slices.Equal(got, want) {
		t.Errorf("queued from %q to %q, want alice@example.org to %q", m.From, got, want)
	}
}

// Over plaintext, from a client that may not relay.
func TestSourceRoutePlaintextDialog(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 20 }))
	d := h.dial()
	d.ehlo()
	routeDialog(t, h, d, false)
}

// Under TLS go-smtp's parser is the only thing that sees the command line;
// Sluice's copy passes the route on (MailOptions.SourceRoute), so after
// STARTTLS a route is refused as in the clear, before and after AUTH.
func TestSourceRouteAfterSTARTTLS(t *testing.T) {
	for _, auth := range []bool{false, true} {
		name := "unauthenticated"
		if auth {
			name = "authenticated"
		}
		t.Run(name, func(t *testing.T) {
			tlsOpt, clientTLS := withSTARTTLS(t)
			h := start(t, tlsOpt, withUsers(t, users), withLimits(func(l *config.Limits) { l.MaxErrors = 20 }))
			d := h.dialTLS("mx", clientTLS)
			d.ehlo()
			if auth {
				d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
			}
			routeDialog(t, h, d, auth)
		})
	}
}

// On submission (STARTTLS) and submissions (implicit TLS, RFC 8314) a
// route is refused before AUTH, where it comes ahead of "530 Authentication
// required", and after it, where the user may relay.
func TestSourceRouteSubmission(t *testing.T) {
	for _, kind := range []config.ListenerKind{config.KindSubmission, config.KindSubmissions} {
		t.Run(string(kind), func(t *testing.T) {
			sub, clientTLS := withSubmission(t, kind)
			h := start(t, sub, withUsers(t, users), withLimits(func(l *config.Limits) { l.MaxErrors = 20 }))
			var d *dialog
			if kind == config.KindSubmissions {
				d = dialTLSDirect(t, h.addr("sub"), clientTLS)
			} else {
				d = h.dialTLS("sub", clientTLS)
			}
			d.ehlo()
			d.cmd("MAIL FROM:<@a.example:alice@example.org>", refusedRoute)
			d.cmd("MAIL FROM:<@a.example,@b.example:alice@example.org>", refusedRoute)
			d.cmd("MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required")
			d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
			routeDialog(t, h, d, true)
		})
	}
}
