package smtpd

import (
	"errors"
	"math"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
)

// limitsOf is the LIMITS parameter a go-smtp client reads from the EHLO
// of a new session to h's listener ("" for none), and the client.
func limitsOf(t *testing.T, h *harness) (string, *smtp.Client) {
	t.Helper()
	c, err := smtp.Dial(h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	ok, p := c.Extension("LIMITS")
	if !ok {
		return "", c
	}
	return p, c
}

// The listener advertises the limits it enforces (RFC 9422):
// max_recipients as RCPTMAX, the 4th RCPT of 3 getting 452 4.5.3, and
// max_messages_per_connection as MAILMAX, the 3rd MAIL of 2 getting 421.
func TestAdvertisedLimitsEnforced(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxMessagesPerConnection = 2 }))
	p, c := limitsOf(t, h)
	if p != "RCPTMAX=3 MAILMAX=2" {
		t.Fatalf("LIMITS %q, want RCPTMAX=3 MAILMAX=2", p)
	}
	code := func(err error) int {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se.Code
		}
		return 0
	}
	for range 2 {
		if err := c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"b@example.org", "c@example.org", "d@example.org"} {
			if err := c.Rcpt(r, nil); err != nil {
				t.Fatalf("RCPT %s within RCPTMAX: %v", r, err)
			}
		}
		if err := c.Rcpt("e@example.org", nil); code(err) != 452 {
			t.Fatalf("RCPT past RCPTMAX: %v, want 452", err)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Mail("a@example.org", nil); code(err) != 421 {
		t.Fatalf("MAIL past MAILMAX: %v, want 421", err)
	}
}

// MAILMAX is left out where max_messages_per_connection does not apply:
// for a relay_networks client, and when it is -1; a reload's limits are
// those of the next EHLO.
func TestAdvertisedLimitsWhereTheyApply(t *testing.T) {
	var lo config.Prefix
	if err := lo.UnmarshalText([]byte("127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	h := start(t, func(o *Options) { o.Config.RelayNetworks = []config.Prefix{lo} })
	if p, _ := limitsOf(t, h); p != "RCPTMAX=3" {
		t.Errorf("relay_networks client: LIMITS %q, want RCPTMAX=3", p)
	}
	h = start(t, withLimits(func(l *config.Limits) { l.MaxMessagesPerConnection = -1 }))
	if p, _ := limitsOf(t, h); p != "RCPTMAX=3" {
		t.Errorf("max_messages_per_connection = -1: LIMITS %q, want RCPTMAX=3", p)
	}
	next := *h.cfg
	next.Limits = *h.srv.lim()
	next.Limits.MaxRecipients, next.Limits.MaxMessagesPerConnection = 200, 10
	h.srv.SetLimits(&next)
	if p, _ := limitsOf(t, h); p != "RCPTMAX=200 MAILMAX=10" {
		t.Errorf("after the reload: LIMITS %q, want RCPTMAX=200 MAILMAX=10", p)
	}
}

// A limit over six digits is left out of LIMITS rather than advertised
// in a form RFC 9422 §4 does not allow (its values are 1*6DIGIT; mox
// skips a longer one): max_recipients has no upper bound, and an
// operator wanting none sets a large one. With both left out there is
// no LIMITS keyword at all.
func TestAdvertisedLimitsSixDigits(t *testing.T) {
	h := start(t)
	for _, c := range []struct {
		rcpt, mails int
		want        string
	}{
		{999999, 999999, "RCPTMAX=999999 MAILMAX=999999"},
		{1000000, 10, "MAILMAX=10"},
		{10, math.MaxInt, "RCPTMAX=10"},
		{math.MaxInt, 1000000, ""},
	} {
		next := *h.cfg
		next.Limits = *h.srv.lim()
		next.Limits.MaxRecipients, next.Limits.MaxMessagesPerConnection = c.rcpt, c.mails
		h.srv.SetLimits(&next)
		if p, _ := limitsOf(t, h); p != c.want {
			t.Errorf("max_recipients %d, max_messages_per_connection %d: LIMITS %q, want %q", c.rcpt, c.mails, p, c.want)
		}
	}
}
