package config

import (
	"strings"
	"testing"
	"time"
)

// soft_errors and error_delay default to Postfix's smtpd_soft_error_limit
// and smtpd_error_sleep_time (10, 1s); error_delay = "0s" written turns
// the tarpit off, where a zero left out is the default; -1 turns
// soft_errors off. Errors name the key at its line.
func TestErrorTarpitConfig(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Limits; l.SoftErrors != 10 || l.ErrorDelay.Duration != time.Second {
		t.Errorf("defaults soft_errors %d, error_delay %v; want 10, 1s", l.SoftErrors, l.ErrorDelay)
	}
	for src, want := range map[string]Limits{
		"soft_errors = 3\nerror_delay = \"250ms\"": {SoftErrors: 3, ErrorDelay: Duration{250 * time.Millisecond}},
		"error_delay = \"0s\"":                     {SoftErrors: 10},
		"soft_errors = -1":                         {SoftErrors: -1, ErrorDelay: Duration{time.Second}},
	} {
		c, err := Parse("f.toml", []byte(minimal+"[limits]\n"+src+"\n"))
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if l := c.Limits; l.SoftErrors != want.SoftErrors || l.ErrorDelay != want.ErrorDelay {
			t.Errorf("%s: soft_errors %d, error_delay %v; want %d, %v", src, l.SoftErrors, l.ErrorDelay, want.SoftErrors, want.ErrorDelay)
		}
	}
	for src, want := range map[string]string{
		"soft_errors = -2":           "f.toml:6: soft_errors must be positive, or -1 for no limit",
		"error_delay = \"-1s\"":      "f.toml:6: limits.error_delay: negative duration",
		"error_delay = \"1 second\"": "f.toml:6: limits.error_delay: bad duration",
		"soft_errors = \"ten\"":      "f.toml:6: limits.soft_errors",
	} {
		_, err := Parse("f.toml", []byte(minimal+"[limits]\n# the tarpit\n"+src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want prefix %q", src, err, want)
		}
	}
}

// recipient_rate_per_ip is off by default, as Postfix's
// smtpd_client_recipient_rate_limit = 0; per_minute alone is its own
// burst as for the other rates; a burst without a per_minute would be
// dropped silently and is refused.
func TestRecipientRatePerIPConfig(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Limits.RecipientRatePerIP; !r.Unlimited() {
		t.Errorf("default recipient_rate_per_ip %+v, want off", r)
	}
	for src, want := range map[string]Rate{
		"recipient_rate_per_ip = { per_minute = 100 }":             {PerMinute: 100, Burst: 100},
		"recipient_rate_per_ip = { per_minute = 10, burst = 300 }": {PerMinute: 10, Burst: 300},
		"recipient_rate_per_ip = { per_minute = 0 }":               {PerMinute: -1, Burst: -1},
	} {
		c, err := Parse("f.toml", []byte(minimal+"[limits]\n"+src+"\n"))
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := c.Limits.RecipientRatePerIP; got != want {
			t.Errorf("%s: %+v, want %+v", src, got, want)
		}
	}
	for src, want := range map[string]string{
		"recipient_rate_per_ip = { per_minute = -2 }":             "f.toml:6: recipient_rate_per_ip must be positive, or -1 for no limit",
		"recipient_rate_per_ip = { per_minute = 10, burst = -1 }": "f.toml:6: recipient_rate_per_ip: burst must be positive",
		"recipient_rate_per_ip = { burst = 50 }":                  "f.toml:6: recipient_rate_per_ip: a burst needs a per_minute",
		"recipient_rate_per_ip = 100":                             "f.toml:6: limits.recipient_rate_per_ip",
	} {
		_, err := Parse("f.toml", []byte(minimal+"[limits]\n# per client\n"+src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want prefix %q", src, err, want)
		}
	}
}
