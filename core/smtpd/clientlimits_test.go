package smtpd

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

func TestMaxConnectionsPerIP(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxConnectionsPerIP = 2 }))
	first, second := h.dial(), h.dial()
	third := dialConn(t, h.addr("mx"))
	third.expect("421 4.7.0 Too many connections from your address, try again later")
	third.expectClosed()
	first.cmd("QUIT", "221 2.0.0 Bye")
	first.expectClosed()
	// The slot is free once the server has seen the first one go; the
	// second session proves it has (its reply follows the close).
	second.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	waitFor(t, func() bool { return h.conns() == 1 })
	h.dial()
}

// relay_networks are exempt from the per-IP limits.
func TestPerIPLimitsExemptRelayNetworks(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxConnectionsPerIP = 1; l.ConnectionRatePerIP = 1 }),
		func(o *Options) {
			o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
		})
	h.dial()
	h.dial()
	h.dial()
}

func TestConnectionRatePerIP(t *testing.T) {
	clock := newFakeClock()
	h := start(t, withClock(clock), withLimits(func(l *config.Limits) { l.ConnectionRatePerIP = 2 }))
	h.dial().cmd("QUIT", "221 2.0.0 Bye")
	h.dial().cmd("QUIT", "221 2.0.0 Bye")
	d := dialConn(t, h.addr("mx"))
	d.expect("421 4.7.0 Too many connections from your address in a short time, try again later")
	d.expectClosed()
	clock.Advance(30 * time.Second) // one token back at 2 a minute
	h.dial()
}

func TestMaxMessagesPerConnection(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxMessagesPerConnection = 2 }))
	d := h.dial()
	d.ehlo()
	for range 2 {
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw("Subject: x\r\n\r\n.\r\n")
		d.queued()
	}
	d.cmd("MAIL FROM:<a@example.org>", "421 4.7.0 Too many messages in one session, reconnect to send more")
	d.expectClosed()
	if n := len(h.messages()); n != 2 {
		t.Errorf("%d messages queued, want 2", n)
	}
}

// A token bucket per client IP: burst 2, then one a minute.
func TestMessageRatePerIP(t *testing.T) {
	clock := newFakeClock()
	h := start(t, withClock(clock), withLimits(func(l *config.Limits) {
		l.MessageRatePerIP = config.Rate{PerMinute: 1, Burst: 2}
	}))
	d := h.dial()
	d.ehlo()
	for range 2 {
		d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
		d.cmd("RSET", "250 2.0.0 Session reset")
	}
	d.cmd("MAIL FROM:<other@example.org>", "450 4.7.0 Too many messages from your address, try again later")
	// The bucket is the address's, not the connection's.
	d2 := h.dial()
	d2.ehlo()
	d2.cmd("MAIL FROM:<a@example.org>", "450 4.7.0 Too many messages from your address, try again later")
	clock.Advance(time.Minute)
	d2.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
}

// Per sender: the reverse-path when not authenticated (the null one has
// no bucket), the user when authenticated.
func TestMessageRatePerSender(t *testing.T) {
	clock := newFakeClock()
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withClock(clock), withUsers(t, users), withLimits(func(l *config.Limits) {
		l.MessageRatePerSender = config.Rate{PerMinute: 1, Burst: 1}
	}), func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"@example.org"}}
	})
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<A@example.org>", "450 4.7.0 Too many messages from this sender, try again later")
	d.cmd("MAIL FROM:<b@example.org>", "250 2.0.0 Roger, accepting mail from <b@example.org>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	for range 3 {
		d.cmd("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
		d.cmd("RSET", "250 2.0.0 Session reset")
	}

	s := h.dialTLS("sub", clientTLS)
	s.ehlo()
	s.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	s.cmd("MAIL FROM:<c@example.org>", "250 2.0.0 Roger, accepting mail from <c@example.org>")
	s.cmd("RSET", "250 2.0.0 Session reset")
	s.cmd("MAIL FROM:<d@example.org>", "450 4.7.0 Too many messages from this sender, try again later")
	clock.Advance(time.Minute)
	s.cmd("MAIL FROM:<d@example.org>", "250 2.0.0 Roger, accepting mail from <d@example.org>")
}

// max_errors refusals are answered; the next one ends the session.
func TestMaxErrors(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 3 }))
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	// The recipient limit (3) is not an error.
	d.cmd("RCPT TO:<r1@example.org>", "250 2.0.0 I'll make sure <r1@example.org> gets this")
	d.cmd("RCPT TO:<r2@example.org>", "250 2.0.0 I'll make sure <r2@example.org> gets this")
	d.cmd("RCPT TO:<r3@example.org>", "250 2.0.0 I'll make sure <r3@example.org> gets this")
	d.cmd("RCPT TO:<r4@example.org>", "452 4.5.3 Too many recipients")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := range 3 {
		d.cmd("RCPT TO:<x"+string(rune('0'+i))+"@elsewhere.example>", "554 5.7.1 Relay access denied")
	}
	d.cmd("RCPT TO:<y@elsewhere.example>", "421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
}

// The header section is bounded by max_header_size (RFC 3463 X.3.4).
func TestMaxHeaderSize(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxHeaderSize = 100 }))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: " + strings.Repeat("x", 80) + "\r\nX-Two: " + strings.Repeat("y", 20) + "\r\n\r\nshort body\r\n.\r\n")
	d.expect("552 5.3.4 Message header size exceeds limit")
	// A big body under a small header is fine.
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: " + strings.Repeat("x", 80) + "\r\n\r\n" + strings.Repeat("body line\r\n", 50) + ".\r\n")
	d.queued()
	// BDAT too; a message without an empty line is all header.
	d.envelope("b@example.org")
	msg := "Subject: " + strings.Repeat("z", 120) + "\r\n"
	d.send("BDAT " + strconv.Itoa(len(msg)) + " LAST")
	d.raw(msg)
	d.expect("552 5.3.4 Message header size exceeds limit")
	if n := len(h.messages()); n != 1 {
		t.Errorf("%d messages queued, want 1", n)
	}
}

func TestHeaderSection(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int
		noBlank bool
	}{
		{"", 0, false},
		{"\r\nbody", 0, false},
		{"A: b\r\n\r\nbody", 6, false},
		{"A: b\r\nC: d\r\n\r\n", 12, false},
		{"A: b\r\n", 6, false},
		{"A: b", 4, false},
		{"A: b\r\n c\r\n\r\nbody", 10, false},
		// The section ends at the first line that is not a field.
		{"A: b\r\nline one\r\nX: y\r\n", 6, true},
		{"A: b\r\nnot a: field\r\n\r\n", 6, true},
		{"just text\r\n", 0, true},
		{"From someone Mon Jan  1\r\nA: b\r\n", 0, true},
	} {
		got, noBlank := headerSection([]byte(tc.in))
		if got != tc.want || noBlank != tc.noBlank {
			t.Errorf("headerSection(%q) = %d, %v, want %d, %v", tc.in, got, noBlank, tc.want, tc.noBlank)
		}
	}
}

// conns is the number of connections the server tracks.
func (h *harness) conns() int {
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	return len(h.srv.conns)
}

// waitFor polls cond: the server notices a closed connection on its own
// goroutine, after the client has seen the close.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// Unauthenticated clients in relay_networks (the site's own applications)
// are not limited per sender; Postfix does not limit mynetworks either.
func TestMessageRatePerSenderSparesRelayNetworks(t *testing.T) {
	var lo config.Prefix
	if err := lo.UnmarshalText([]byte("127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	h := start(t, withLimits(func(l *config.Limits) {
		l.MessageRatePerSender = config.Rate{PerMinute: 1, Burst: 1}
	}), func(o *Options) { o.Config.RelayNetworks = []config.Prefix{lo} })
	d := h.dial()
	d.ehlo()
	for range 3 {
		d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
		d.cmd("RSET", "250 2.0.0 Session reset")
	}
}

// relay_networks clients (local applications) are not cut off after
// max_messages_per_connection.
func TestMaxMessagesPerConnectionSparesRelayNetworks(t *testing.T) {
	var lo config.Prefix
	if err := lo.UnmarshalText([]byte("127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	h := start(t, withLimits(func(l *config.Limits) { l.MaxMessagesPerConnection = 1 }),
		func(o *Options) { o.Config.RelayNetworks = []config.Prefix{lo} })
	d := h.dial()
	d.ehlo()
	for range 3 {
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw("Subject: x\r\n\r\n.\r\n")
		d.queued()
	}
	if n := len(h.messages()); n != 3 {
		t.Fatalf("%d messages queued, want 3", n)
	}
}
