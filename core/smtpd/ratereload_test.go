package smtpd

import (
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// setRcptRateIP reloads the server with recipient_rate_per_ip r.
func setRcptRateIP(h *harness, r config.Rate) {
	next := *h.cfg
	next.Limits = *h.srv.lim()
	next.Limits.RecipientRatePerIP = r
	h.srv.SetLimits(&next)
}

// A reload that turns a rate off and a later one that turns it on again
// leave each client the tokens it had: clamped to the off rate's burst
// (-1), every bucket came back empty and a token short, and a client
// that had spent one token was refused until the clock gave two back.
func TestRateOffAndOnKeepsTokens(t *testing.T) {
	h := start(t, withClock(newFakeClock()), withRcptRateIP(1, 3))
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.mailFrom("a@example.org")
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	setRcptRateIP(h, config.Rate{PerMinute: -1, Burst: -1}) // as the config writes off
	setRcptRateIP(h, config.Rate{PerMinute: 1, Burst: 3})
	d.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
	d.cmd("RCPT TO:<r3@example.org>", rcptOK("r3@example.org"))
	d.cmd("RCPT TO:<r4@example.org>", rcptRateIPRefused)
}

// Recipients accepted while recipient_rate_per_sender is off spend no
// token of it: a transaction that ends without a message, the rate
// turned on by a reload between its recipients, gives back only the
// tokens spent after. It gave back one for each recipient, to a bucket
// another session had spent meanwhile. (recipient_rate_per_ip gives
// nothing back.)
func TestRateTurnedOnRefundsOnlySpent(t *testing.T) {
	h := start(t, withClock(newFakeClock()), withLimits(func(l *config.Limits) {
		l.MaxRecipients = 100
		l.RecipientRatePerSender = config.Rate{PerMinute: -1, Burst: -1}
	}))
	a := h.dialAs("127.0.0.1")
	a.ehlo()
	a.mailFrom("a@example.org")
	a.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	next := *h.cfg
	next.Limits = *h.srv.lim()
	next.Limits.RecipientRatePerSender = config.Rate{PerMinute: 1, Burst: 2}
	h.srv.SetLimits(&next)
	a.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
	b := h.dialAs("127.0.0.1")
	b.ehlo()
	b.mailFrom("a@example.org")
	b.cmd("RCPT TO:<r3@example.org>", rcptOK("r3@example.org"))
	b.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	b.raw("Subject: x\r\n\r\n.\r\n")
	b.queued()
	a.cmd("RSET", "250 2.0.0 Session reset") // r2's token back
	b.mailFrom("a@example.org")
	b.cmd("RCPT TO:<r4@example.org>", rcptOK("r4@example.org"))
	b.cmd("RCPT TO:<r5@example.org>", rcptRateRefused)
}

// With recipient_rate_per_ip off, as by default, an RCPT costs the
// per-IP rate nothing: no key is made for it.
func TestRcptRateIPOffAllocatesNothing(t *testing.T) {
	h := start(t)
	info := &SessionInfo{}
	if err := info.Client.UnmarshalText([]byte("198.51.100.9:25000")); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if r := h.srv.takeRcptRateIP(info); r != nil {
			t.Fatalf("reply %v; want none", r)
		}
	}); n != 0 {
		t.Errorf("%v allocations a recipient, want 0", n)
	}
}
