package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// importLimits imports main (after myhostname) and parses the draft.
func importLimits(t *testing.T, main string) (config.Limits, string) {
	t.Helper()
	dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + main, "master.cf": "smtp inet n - y - - smtpd\n"})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sluice.toml", []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
	if err != nil {
		t.Fatalf("%q: core/config refuses the output: %v\n%s", main, err, out)
	}
	return cfg.Limits, out
}

func listed(t *testing.T, out, param string) bool {
	return strings.Contains(" "+strings.Join(notCarried(t, out), " ")+" ", " "+param+" ")
}

// smtpd_client_recipient_rate_limit, N recipients an anvil_rate_time_unit
// (60s by default), becomes recipient_rate_per_ip: a burst of N, refilled
// at N a unit (a minute's worth rounded up); 0 is off, as Sluice's
// default; a value that does not parse is listed.
func TestImportPostfixClientRecipientRate(t *testing.T) {
	for _, c := range []struct {
		main   string
		want   config.Rate
		listed string
	}{
		{main: "", want: config.Rate{PerMinute: -1, Burst: -1}},
		{main: "smtpd_client_recipient_rate_limit = 0\n", want: config.Rate{PerMinute: -1, Burst: -1}},
		{main: "smtpd_client_recipient_rate_limit = 100\n", want: config.Rate{PerMinute: 100, Burst: 100}},
		{main: "smtpd_client_recipient_rate_limit = 100\nanvil_rate_time_unit = 1h\n", want: config.Rate{PerMinute: 2, Burst: 100}},
		{main: "smtpd_client_recipient_rate_limit = 30\nanvil_rate_time_unit = 10\n", want: config.Rate{PerMinute: 180, Burst: 30}},
		{main: "smtpd_client_recipient_rate_limit = 50\nanvil_rate_time_unit = soon\n", want: config.Rate{PerMinute: 50, Burst: 50}, listed: "anvil_rate_time_unit"},
		{main: "smtpd_client_recipient_rate_limit = lots\n", want: config.Rate{PerMinute: -1, Burst: -1}, listed: "smtpd_client_recipient_rate_limit"},
	} {
		l, out := importLimits(t, c.main)
		if l.RecipientRatePerIP != c.want {
			t.Errorf("%q: recipient_rate_per_ip %+v, want %+v\n%s", c.main, l.RecipientRatePerIP, c.want, out)
		}
		for _, p := range []string{"smtpd_client_recipient_rate_limit", "anvil_rate_time_unit"} {
			if got := listed(t, out, p); got != (p == c.listed) {
				t.Errorf("%q: %s listed as not carried over: %v\n%s", c.main, p, got, out)
			}
		}
	}
}

// smtpd_soft_error_limit and smtpd_error_sleep_time become soft_errors
// and error_delay (seconds by default; 0 turns the tarpit off in both);
// a soft limit of 0, which delays every reply from the first, has no
// counterpart and is listed; left out, the defaults are Postfix's.
func TestImportPostfixErrorTarpit(t *testing.T) {
	for _, c := range []struct {
		main   string
		soft   int
		delay  time.Duration
		listed string
	}{
		{main: "", soft: 10, delay: time.Second},
		{main: "smtpd_soft_error_limit = 3\nsmtpd_error_sleep_time = 5\n", soft: 3, delay: 5 * time.Second},
		{main: "smtpd_error_sleep_time = 0\n", soft: 10, delay: 0},
		{main: "smtpd_error_sleep_time = 2m\n", soft: 10, delay: 2 * time.Minute},
		{main: "smtpd_soft_error_limit = 0\n", soft: 10, delay: time.Second, listed: "smtpd_soft_error_limit"},
		{main: "smtpd_soft_error_limit = -4\n", soft: 10, delay: time.Second, listed: "smtpd_soft_error_limit"},
		{main: "smtpd_error_sleep_time = 1.5s\n", soft: 10, delay: time.Second, listed: "smtpd_error_sleep_time"},
	} {
		l, out := importLimits(t, c.main)
		if l.SoftErrors != c.soft || l.ErrorDelay.Duration != c.delay {
			t.Errorf("%q: soft_errors %d, error_delay %v; want %d, %v\n%s", c.main, l.SoftErrors, l.ErrorDelay, c.soft, c.delay, out)
		}
		for _, p := range []string{"smtpd_soft_error_limit", "smtpd_error_sleep_time"} {
			if got := listed(t, out, p); got != (p == c.listed) {
				t.Errorf("%q: %s listed as not carried over: %v\n%s", c.main, p, got, out)
			}
		}
	}
	// Carried without message_size_limit, whose [limits] it shares.
	l, out := importLimits(t, "message_size_limit = 0\nsmtpd_soft_error_limit = 4\n")
	if l.SoftErrors != 4 || !strings.Contains(out, "# smtpd_soft_error_limit\nsoft_errors = 4\n") {
		t.Errorf("soft_errors %d without a max_message_size:\n%s", l.SoftErrors, out)
	}
}
