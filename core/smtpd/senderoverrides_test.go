package smtpd

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

const (
	mailRateRefused = "450 4.7.0 Too many messages from this sender, try again later"
	mailOK          = "250 2.0.0 Roger, accepting mail from <%s>"
)

// withOverrides starts a server with a submission listener, the test
// users, the per-sender rates r and the overrides over.
func withOverrides(t *testing.T, clock *fakeClock, r config.Rate, over map[string]config.SenderRates) (*harness, *tls.Config) {
	t.Helper()
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withClock(clock), withUsers(t, users), withLimits(func(l *config.Limits) {
		l.MaxRecipients = 100
		l.MessageRatePerSender = r
		l.RecipientRatePerSender = r
		l.SenderOverrides = over
	}), func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"@example.org"}, "alice@example.org": {"@example.org"}}
	})
	return h, clientTLS
}

// login opens a submission session as user.
func login(h *harness, clientTLS *tls.Config, user, password string) *dialog {
	s := h.dialTLS("sub", clientTLS)
	s.ehlo()
	s.authPlain(user, password, "235 2.7.0 Authentication succeeded")
	return s
}

// mails sends n MAIL commands from from, each answered want, each
// transaction reset.
func mails(d *dialog, from string, n int, want string) {
	d.t.Helper()
	for range n {
		d.cmd("MAIL FROM:<"+from+">", want)
		if strings.HasPrefix(want, "250") {
			d.cmd("RSET", "250 2.0.0 Session reset")
		}
	}
}

// An AUTH user with an override of message_rate_per_sender sends past
// [limits]' rate, up to its own, and is then refused with the rate's own
// reply; another user stays at [limits]' rate. A key is the bucket's, in
// any case: user:NAME for an AUTH user, an address for a client that did
// not authenticate, so an address's override is not had by the AUTH user
// of that name, nor a user's by a client giving the name as MAIL FROM.
func TestSenderOverrideMessageRate(t *testing.T) {
	clock := newFakeClock()
	h, clientTLS := withOverrides(t, clock, config.Rate{PerMinute: 1, Burst: 1}, map[string]config.SenderRates{
		"User:Bob":          {MessageRatePerSender: config.Rate{PerMinute: 3, Burst: 3}},
		"alice@example.org": {MessageRatePerSender: config.Rate{PerMinute: 2, Burst: 2}},
	})
	bob := login(h, clientTLS, "bob", "battery staple")
	mails(bob, "b1@example.org", 3, fmt.Sprintf(mailOK, "b1@example.org"))
	mails(bob, "b2@example.org", 1, mailRateRefused)
	if !strings.Contains(h.logs.String(), "message_rate_per_sender user:bob") {
		t.Errorf("no user:bob key in the log:\n%s", h.logs.String())
	}

	alice := login(h, clientTLS, "alice@example.org", "correct horse")
	mails(alice, "alice@example.org", 1, fmt.Sprintf(mailOK, "alice@example.org"))
	mails(alice, "alice@example.org", 1, mailRateRefused)

	// Not authenticated: the address's own override, or [limits]'.
	d := h.dial()
	d.ehlo()
	mails(d, "ALICE@example.org", 2, fmt.Sprintf(mailOK, "ALICE@example.org"))
	mails(d, "alice@example.org", 1, mailRateRefused)
	mails(d, "bob@example.org", 1, fmt.Sprintf(mailOK, "bob@example.org"))
	mails(d, "bob@example.org", 1, mailRateRefused)

	// A minute later bob has 3 again, not [limits]' 1.
	clock.Advance(time.Minute)
	mails(bob, "b3@example.org", 3, fmt.Sprintf(mailOK, "b3@example.org"))
	mails(bob, "b3@example.org", 1, mailRateRefused)
}

// An AUTH user's override, as written in a config file, takes it past
// [limits]' message rate (config lower-cases the key and fills in the
// burst).
func TestSenderOverrideFromConfig(t *testing.T) {
	c, err := config.Parse("f.toml", []byte(baseConfig+`
[limits.sender_overrides."user:BOB"]
message_rate_per_sender = { per_minute = 2 }
`))
	if err != nil {
		t.Fatal(err)
	}
	h, clientTLS := withOverrides(t, newFakeClock(), config.Rate{PerMinute: 1, Burst: 1}, c.Limits.SenderOverrides)
	bob := login(h, clientTLS, "bob", "battery staple")
	mails(bob, "b@example.org", 2, fmt.Sprintf(mailOK, "b@example.org"))
	mails(bob, "b@example.org", 1, mailRateRefused)
	alice := login(h, clientTLS, "alice@example.org", "correct horse")
	mails(alice, "alice@example.org", 1, fmt.Sprintf(mailOK, "alice@example.org"))
	mails(alice, "alice@example.org", 1, mailRateRefused)
}

// recipient_rate_per_sender's override: bob's own number of recipients,
// then the rate's 452 4.7.0; -1 lifts the limit for one user; another
// user keeps [limits]' rate.
func TestSenderOverrideRecipientRate(t *testing.T) {
	clock := newFakeClock()
	h, clientTLS := withOverrides(t, clock, config.Rate{PerMinute: 1, Burst: 1}, map[string]config.SenderRates{
		"user:bob":               {RecipientRatePerSender: config.Rate{PerMinute: 3, Burst: 3}},
		"user:alice@example.org": {RecipientRatePerSender: config.Rate{PerMinute: -1, Burst: -1}},
	})
	bob := login(h, clientTLS, "bob", "battery staple")
	bob.cmd("MAIL FROM:<b@example.org>", fmt.Sprintf(mailOK, "b@example.org"))
	for i := range 3 {
		to := fmt.Sprintf("r%d@elsewhere.example", i)
		bob.cmd("RCPT TO:<"+to+">", rcptOK(to))
	}
	bob.cmd("RCPT TO:<r4@elsewhere.example>", rcptRateRefused)

	alice := login(h, clientTLS, "alice@example.org", "correct horse")
	alice.cmd("MAIL FROM:<alice@example.org>", fmt.Sprintf(mailOK, "alice@example.org"))
	for i := range 5 {
		to := fmt.Sprintf("r%d@elsewhere.example", i)
		alice.cmd("RCPT TO:<"+to+">", rcptOK(to))
	}

	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<c@example.org>", fmt.Sprintf(mailOK, "c@example.org"))
	d.cmd("RCPT TO:<r1@example.org>", rcptOK("r1@example.org"))
	d.cmd("RCPT TO:<r2@example.org>", rcptRateRefused)
}

// A reload sets, changes and removes overrides, the open sessions
// meeting them at their next command; each bucket keeps its tokens, up
// to its new burst.
func TestSenderOverrideReload(t *testing.T) {
	clock := newFakeClock()
	h, clientTLS := withOverrides(t, clock, config.Rate{PerMinute: 1, Burst: 1}, nil)
	reload := func(over map[string]config.SenderRates) {
		next := *h.cfg
		next.Limits = *h.srv.lim()
		next.Limits.SenderOverrides = over
		h.srv.SetLimits(&next)
	}
	bob := login(h, clientTLS, "bob", "battery staple")
	mails(bob, "b@example.org", 1, fmt.Sprintf(mailOK, "b@example.org"))
	mails(bob, "b@example.org", 1, mailRateRefused)

	reload(map[string]config.SenderRates{"user:bob": {MessageRatePerSender: config.Rate{PerMinute: -1, Burst: -1}}})
	mails(bob, "b@example.org", 5, fmt.Sprintf(mailOK, "b@example.org"))

	reload(map[string]config.SenderRates{"user:bob": {MessageRatePerSender: config.Rate{PerMinute: 10, Burst: 10}}})
	clock.Advance(30 * time.Second) // 5 tokens at 10 a minute
	mails(bob, "b@example.org", 5, fmt.Sprintf(mailOK, "b@example.org"))
	mails(bob, "b@example.org", 1, mailRateRefused)
	clock.Advance(time.Minute) // full: 10
	// Reloaded as it was, bob's bucket keeps its 10, not [limits]' burst.
	reload(map[string]config.SenderRates{"user:bob": {MessageRatePerSender: config.Rate{PerMinute: 10, Burst: 10}}})
	mails(bob, "b@example.org", 3, fmt.Sprintf(mailOK, "b@example.org"))
	reload(map[string]config.SenderRates{"user:bob": {MessageRatePerSender: config.Rate{PerMinute: 2, Burst: 2}}})
	mails(bob, "b@example.org", 2, fmt.Sprintf(mailOK, "b@example.org"))
	mails(bob, "b@example.org", 1, mailRateRefused)

	// Removed: [limits]' rate again.
	reload(nil)
	clock.Advance(time.Minute)
	mails(bob, "b@example.org", 1, fmt.Sprintf(mailOK, "b@example.org"))
	mails(bob, "b@example.org", 1, mailRateRefused)
}

// An internationalized domain is one sender in either spelling, as
// [auth.senders] and delivery take it: a client without SMTPUTF8 gives
// MAIL FROM its A-labels, one with SMTPUTF8 may give its UTF-8 (RFC 6531
// §3.2), and an override written in either spelling, in any case, with
// a trailing dot or not, is that sender's; both spellings spend from one
// bucket, which the log names by its A-labels.
func TestSenderOverrideIDN(t *testing.T) {
	h, _ := withOverrides(t, newFakeClock(), config.Rate{PerMinute: 1, Burst: 1}, map[string]config.SenderRates{
		"alerts@Bücher.example":       {MessageRatePerSender: config.Rate{PerMinute: 2, Burst: 2}},
		"news@XN--BCHER-KVA.example.": {MessageRatePerSender: config.Rate{PerMinute: 3, Burst: 3}},
	})
	d := h.dial()
	d.ehlo()
	mails(d, "alerts@xn--bcher-kva.example", 1, fmt.Sprintf(mailOK, "alerts@xn--bcher-kva.example"))
	d.cmd("MAIL FROM:<alerts@bücher.example> SMTPUTF8", fmt.Sprintf(mailOK, "alerts@bücher.example"))
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<alerts@BÜCHER.example> SMTPUTF8", mailRateRefused)
	mails(d, "alerts@xn--bcher-kva.example", 1, mailRateRefused)

	for range 2 {
		d.cmd("MAIL FROM:<news@bücher.example> SMTPUTF8", fmt.Sprintf(mailOK, "news@bücher.example"))
		d.cmd("RSET", "250 2.0.0 Session reset")
	}
	mails(d, "news@xn--bcher-kva.example", 1, fmt.Sprintf(mailOK, "news@xn--bcher-kva.example"))
	d.cmd("MAIL FROM:<news@bücher.example> SMTPUTF8", mailRateRefused)
	if !strings.Contains(h.logs.String(), "message_rate_per_sender alerts@xn--bcher-kva.example") {
		t.Errorf("no A-label key in the log:\n%s", h.logs.String())
	}
}
