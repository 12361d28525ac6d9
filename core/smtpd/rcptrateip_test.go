package smtpd

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

const rcptRateIPRefused = "452 4.7.0 Recipient rate limit for your address reached, send the rest later"

func withRcptRateIP(perMinute, burst int) func(*Options) {
	return withLimits(func(l *config.Limits) {
		l.MaxRecipients = 100
		l.RecipientRatePerIP = config.Rate{PerMinute: perMinute, Burst: burst}
	})
}

// mailFrom opens a transaction from sender.
func (d *dialog) mailFrom(sender string) {
	d.t.Helper()
	d.cmd("MAIL FROM:<"+sender+">", "250 2.0.0 Roger, accepting mail from <"+sender+">")
}

// One client's accepted recipients share a bucket across its sessions
// and senders (Postfix's smtpd_client_recipient_rate_limit): past it each
// RCPT gets 452 4.7.0, logged once a transaction with the client, and not
// counted towards max_errors; another address has its own bucket. The
// bucket refills with the clock.
func TestRecipientRatePerIP(t *testing.T) {
	clock := newFakeClock()
	h := start(t, withClock(clock), withRcptRateIP(2, 2), withLimits(func(l *config.Limits) { l.MaxErrors = 1 }))
	a := h.dialAs("127.0.0.1")
	a.ehlo()
	a.mailFrom("a@example.org")
	a.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	a.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
	a.cmd("RCPT TO:<r3@example.org>", rcptRateIPRefused)
	a.cmd("RCPT TO:<r4@example.org>", rcptRateIPRefused)
	a.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	a.raw("Subject: x\r\n\r\n.\r\n")
	a.queued()
	if got := h.messages()[0].Rcpts; len(got) != 2 {
		t.Errorf("queued for %v, want r1 and r2", got)
	}
	if n := strings.Count(h.logs.String(), "recipient_rate_per_ip 127.0.0.1"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, h.logs.String())
	}

	// Another session of the same client, another sender: the same
	// bucket.
	b := h.dialAs("127.0.0.1")
	b.ehlo()
	b.mailFrom("b@example.org")
	b.cmd("RCPT TO:<r5@example.org>", rcptRateIPRefused)
	// Another client address: its own.
	c := h.dialAs("127.0.0.2")
	c.ehlo()
	c.mailFrom("a@example.org")
	c.cmd("RCPT TO:<r6@example.org>", rcptOK("r6@example.org"))
	c.cmd("RCPT TO:<r7@example.org>", rcptOK("r7@example.org"))
	c.cmd("RCPT TO:<r8@example.org>", rcptRateIPRefused)

	// Half a minute brings one token back.
	clock.Advance(30 * time.Second)
	b.cmd("RCPT TO:<r9@example.org>", rcptOK("r9@example.org"))
	b.cmd("RCPT TO:<r10@example.org>", rcptRateIPRefused)
}

// Every RCPT of a transaction spends a token, whatever its answer
// (Postfix counts "regardless of whether or not Postfix actually accepts
// those recipients"): an unknown user (a stage's refusal), a relay
// attempt, a repeated recipient. Nothing is given back, not by a message
// refused at DATA nor by RSET, so a client whose guesses are all refused
// is out of tokens, and a valid address after them gets 452 4.7.0 too.
func TestRecipientRatePerIPCountsRefused(t *testing.T) {
	clock := newFakeClock()
	p := &testPolicy{badRcpt: "nobody@example.org"}
	h := start(t, withClock(clock), withRcptRateIP(3, 3), func(o *Options) { o.Policy = p })
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.mailFrom("a@example.org")
	d.cmd("RCPT TO:<nobody@example.org>", "550 5.1.1 No such user")
	d.cmd("RCPT TO:<guess@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nbare\rCR\r\n.\r\n")
	d.expect("550 5.5.2 *")
	d.mailFrom("a@example.org")
	d.cmd("RCPT TO:<r2@example.org>", rcptRateIPRefused)
	d.cmd("RSET", "250 2.0.0 Session reset")

	e := h.dialAs("127.0.0.1")
	e.ehlo()
	e.mailFrom("b@example.org")
	e.cmd("RCPT TO:<r3@example.org>", rcptRateIPRefused)
	// A token back in 20s; the same address again spends one more.
	clock.Advance(20 * time.Second)
	e.cmd("RCPT TO:<r3@example.org>", rcptOK("r3@example.org"))
	e.cmd("RCPT TO:<r3@example.org>", rcptRateIPRefused)
	e.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	e.raw("Subject: x\r\n\r\n.\r\n")
	e.queued()
	if n := strings.Count(h.logs.String(), "recipient_rate_per_ip 127.0.0.1"); n != 2 {
		t.Errorf("refusal logged %d times, want once a transaction (2):\n%s", n, h.logs.String())
	}
}

// relay_networks are exempt (Postfix's smtpd_client_event_limit_exceptions,
// $mynetworks); the limit is off by default; a reload sets and lifts it
// for an open session's next RCPT.
func TestRecipientRatePerIPExemptAndReload(t *testing.T) {
	var lo config.Prefix
	if err := lo.UnmarshalText([]byte("127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	h := start(t, withRcptRateIP(1, 1), func(o *Options) { o.Config.RelayNetworks = []config.Prefix{lo} })
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.mailFrom("a@example.org")
	for i := range 3 {
		to := fmt.Sprintf("r%d@elsewhere.example", i)
		d.cmd("RCPT TO:<"+to+">", rcptOK(to))
	}

	def := config.Default().Limits.RecipientRatePerIP
	h = start(t, withLimits(func(l *config.Limits) { l.MaxRecipients, l.RecipientRatePerIP = 100, def }))
	d = h.dialAs("127.0.0.1")
	d.ehlo()
	d.mailFrom("a@example.org")
	for i := range 5 {
		to := fmt.Sprintf("r%d@example.org", i)
		d.cmd("RCPT TO:<"+to+">", rcptOK(to))
	}
	next := *h.cfg
	next.Limits = *h.srv.lim()
	next.Limits.RecipientRatePerIP = config.Rate{PerMinute: 1, Burst: 1}
	h.srv.SetLimits(&next)
	d.cmd("RCPT TO:<r5@example.org>", rcptOK("r5@example.org"))
	d.cmd("RCPT TO:<r6@example.org>", rcptRateIPRefused)
	next.Limits.RecipientRatePerIP = config.Rate{PerMinute: -1}
	h.srv.SetLimits(&next)
	d.cmd("RCPT TO:<r6@example.org>", rcptOK("r6@example.org"))
}

// IPv6 clients count by their network of client_ipv6_prefix_length bits,
// as the other per-IP limits.
func TestRecipientRatePerIPGroupsIPv6(t *testing.T) {
	h := start(t, withRcptRateIP(1, 1), withLimits(func(l *config.Limits) { l.ClientIPv6PrefixLength = 64 }))
	info := func(client string) *SessionInfo {
		return &SessionInfo{Client: netip.AddrPortFrom(netip.MustParseAddr(client), 25000), From: "a@example.org"}
	}
	if r := h.srv.takeRcptRateIP(info("2001:db8:1:2::1")); r != nil {
		t.Fatalf("first recipient refused: %v", r)
	}
	if r := h.srv.takeRcptRateIP(info("2001:db8:1:2:ffff::9")); r == nil || r.Text != recipientRateIP.Text {
		t.Errorf("a second address of the /64 got its own bucket: %v", r)
	}
	if r := h.srv.takeRcptRateIP(info("2001:db8:1:3::1")); r != nil {
		t.Errorf("the next /64 shares the first one's bucket: %v", r)
	}
}
