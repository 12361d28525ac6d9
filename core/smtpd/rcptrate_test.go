package smtpd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
)

const rcptRateRefused = "452 4.7.0 Recipient rate limit for this sender reached, send the rest later"

func rcptOK(to string) string { return "250 2.0.0 I'll make sure <" + to + "> gets this" }

func withRcptRate(perMinute, burst int) func(*Options) {
	return withLimits(func(l *config.Limits) {
		l.MaxRecipients = 100
		l.RecipientRatePerSender = config.Rate{PerMinute: perMinute, Burst: burst}
	})
}

// A sender has burst recipients, then 452 4.7.0 for each more (RFC 5321
// §4.5.3.1.10) until the bucket refills; the refusals are logged once a
// transaction, with the key, counted as tempfailed 4.7.0 and not towards
// max_errors; the accepted recipients still get the message, by BDAT as
// by DATA.
func TestRecipientRatePerSender(t *testing.T) {
	clock := newFakeClock()
	m := metrics.New(metrics.Providers{})
	h := start(t, withClock(clock), withRcptRate(2, 2), withLimits(func(l *config.Limits) { l.MaxErrors = 2 }),
		func(o *Options) { o.Metrics = m })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<A@example.org>", "250 2.0.0 Roger, accepting mail from <A@example.org>")
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	d.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
	for i := 3; i <= 6; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<r%d@example.org>", i), rcptRateRefused)
	}
	msg := "Subject: chunked\r\n\r\nbody\r\n"
	d.send(fmt.Sprintf("BDAT %d LAST", len(msg)))
	d.raw(msg)
	d.queued()
	if got := h.messages()[0].Rcpts; len(got) != 2 {
		t.Errorf("queued for %v, want r1 and r2", got)
	}
	if n := strings.Count(h.logs.String(), "recipient_rate_per_sender a@example.org"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, h.logs.String())
	}
	if got := recipientCounts(t, m)[[3]string{"mx", "tempfailed", "4.7.0"}]; got != 4 {
		t.Errorf("tempfailed 4.7.0 recipients %v, want 4", got)
	}

	// The same sender (any case) in a new transaction: still empty, and
	// logged again.
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<r7@example.org>", rcptRateRefused)
	if n := strings.Count(h.logs.String(), "recipient_rate_per_sender a@example.org"); n != 2 {
		t.Errorf("refusal logged %d times after a second transaction, want twice", n)
	}
	// Another sender has its own bucket.
	other := h.dial()
	other.ehlo()
	other.cmd("MAIL FROM:<b@example.org>", "250 2.0.0 Roger, accepting mail from <b@example.org>")
	other.cmd("RCPT TO:<r8@example.org>", rcptOK("r8@example.org"))
	// Half a minute brings one token back, a minute the whole burst.
	clock.Advance(30 * time.Second)
	d.cmd("RCPT TO:<r9@example.org>", rcptOK("r9@example.org"))
	d.cmd("RCPT TO:<r10@example.org>", rcptRateRefused)
	clock.Advance(time.Minute)
	d.cmd("RCPT TO:<r11@example.org>", rcptOK("r11@example.org"))
	d.cmd("RCPT TO:<r12@example.org>", rcptOK("r12@example.org"))
	d.cmd("RCPT TO:<r13@example.org>", rcptRateRefused)
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
}

// The key is the AUTH user, whatever the reverse-path; a user's other
// senders share its bucket, and a user in relay_networks is not spared.
func TestRecipientRatePerSenderAuthUser(t *testing.T) {
	clock := newFakeClock()
	var lo config.Prefix
	if err := lo.UnmarshalText([]byte("127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withClock(clock), withUsers(t, users), withRcptRate(1, 1), func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"@example.org"}}
		o.Config.RelayNetworks = []config.Prefix{lo}
	})
	s := h.dialTLS("sub", clientTLS)
	s.ehlo()
	s.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
	s.cmd("MAIL FROM:<c@example.org>", "250 2.0.0 Roger, accepting mail from <c@example.org>")
	s.cmd("RCPT TO:<x@elsewhere.example>", rcptOK("x@elsewhere.example"))
	s.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	s.raw("Subject: x\r\n\r\n.\r\n")
	s.queued()
	s.cmd("MAIL FROM:<d@example.org>", "250 2.0.0 Roger, accepting mail from <d@example.org>")
	s.cmd("RCPT TO:<y@elsewhere.example>", rcptRateRefused)
	if !strings.Contains(h.logs.String(), "recipient_rate_per_sender user:bob") {
		t.Errorf("no user:bob key in the log:\n%s", h.logs.String())
	}
	// Unauthenticated from relay_networks, the same reverse-path is not
	// limited.
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<d@example.org>", "250 2.0.0 Roger, accepting mail from <d@example.org>")
	for i := range 3 {
		to := fmt.Sprintf("r%d@example.org", i)
		d.cmd("RCPT TO:<"+to+">", rcptOK(to))
	}
	clock.Advance(time.Minute)
	s.cmd("RCPT TO:<y@elsewhere.example>", rcptOK("y@elsewhere.example"))
}

// Unauthenticated clients in relay_networks are exempt, as from
// message_rate_per_sender; the null reverse-path has no bucket.
func TestRecipientRatePerSenderExempt(t *testing.T) {
	var lo config.Prefix
	if err := lo.UnmarshalText([]byte("127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	h := start(t, withRcptRate(1, 1), func(o *Options) { o.Config.RelayNetworks = []config.Prefix{lo} })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := range 3 {
		to := fmt.Sprintf("r%d@elsewhere.example", i)
		d.cmd("RCPT TO:<"+to+">", rcptOK(to))
	}

	h = start(t, withRcptRate(1, 1))
	d = h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
	d.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
}

// A recipient refused after the rate, by the Policy (a stage, an unknown
// user, a refusal delay_reject held back to RCPT), or before it (relay
// denied), spends no token; nor does a repeated recipient.
func TestRecipientRatePerSenderRefusedFree(t *testing.T) {
	p := &testPolicy{badRcpt: "nobody@example.org"}
	h := start(t, withRcptRate(1, 1), func(o *Options) { o.Policy = p })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<nobody@example.org>", "550 5.1.1 No such user")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<nobody@example.org>", "550 5.1.1 No such user")
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	d.cmd("RCPT TO:<r2@example.org>", rcptRateRefused)
}

// A reload applies a new rate to the open session's next RCPT; -1 turns
// the limit off.
func TestSetLimitsRecipientRate(t *testing.T) {
	h := start(t, withRcptRate(1, 1))
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	d.cmd("RCPT TO:<r2@example.org>", rcptRateRefused)
	next := *h.cfg
	next.Limits.RecipientRatePerSender = config.Rate{PerMinute: -1}
	h.srv.SetLimits(&next)
	d.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
	d.cmd("RCPT TO:<r3@example.org>", rcptOK("r3@example.org"))
	next.Limits.RecipientRatePerSender = config.Rate{PerMinute: 1, Burst: 1}
	h.srv.SetLimits(&next)
	d.cmd("RCPT TO:<r4@example.org>", rcptRateRefused)
}

// A transaction that ends without a message taken gives its recipients'
// tokens back: RSET, a message refused at DATA, QUIT before DATA. Only a
// queued message's recipients stay counted.
func TestRecipientRatePerSenderRefundedWithoutMessage(t *testing.T) {
	h := start(t, withRcptRate(2, 2))
	d := h.dial()
	d.ehlo()
	twoRcpts := func(d *dialog) {
		d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
		d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
		d.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
	}
	twoRcpts(d)
	d.cmd("RSET", "250 2.0.0 Session reset")
	twoRcpts(d)
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nbare\rCR\r\n.\r\n")
	d.expect("550 5.5.2 *")
	twoRcpts(d)
	d.cmd("QUIT", "221 2.0.0 Bye")
	d.expectClosed()

	d = h.dial()
	d.ehlo()
	twoRcpts(d)
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<r3@example.org>", rcptRateRefused)
}

// sluice sendmail submits from loopback: under the default config's
// relay_networks and recipient rate, a local batch past the burst is
// not throttled.
func TestRecipientRateDefaultsSpareLoopback(t *testing.T) {
	def := config.Default()
	h := start(t, withLimits(func(l *config.Limits) {
		l.MaxRecipients, l.RecipientRatePerSender = def.Limits.MaxRecipients, def.Limits.RecipientRatePerSender
	}),
		func(o *Options) { o.Config.RelayNetworks = def.RelayNetworks })
	d := h.dial()
	d.ehlo()
	for m := range 2 {
		d.cmd("MAIL FROM:<cron@example.org>", "250 2.0.0 Roger, accepting mail from <cron@example.org>")
		for i := range 600 {
			to := fmt.Sprintf("u%d-%d@example.org", m, i)
			d.cmd("RCPT TO:<"+to+">", rcptOK(to))
		}
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw("Subject: x\r\n\r\n.\r\n")
		d.queued()
	}
}
