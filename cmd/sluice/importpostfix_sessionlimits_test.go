package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// importDraft imports main (after myhostname) with one smtp service and
// parses the draft as core/config does.
func importDraft(t *testing.T, main string) (*config.Config, string) {
	t.Helper()
	dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + main, "master.cf": "smtp inet n - y - - smtpd\n"})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	out += "\n[dns]\nservers = [\"127.0.0.1:1\"]\n"
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("%q: core/config refuses the output: %v\n%s", main, err, out)
	}
	return cfg, out
}

// The smtpd, anvil and SMTP client limits main.cf sets become their
// [limits] and [delivery] keys, in Sluice's units, and sluice check-config
// takes the draft; those with no counterpart are listed, with why.
func TestImportPostfixSessionLimits(t *testing.T) {
	main := "smtpd_client_connection_count_limit = 10\n" +
		"smtpd_client_connection_rate_limit = 30\n" +
		"smtpd_client_message_rate_limit = 90\n" +
		"anvil_rate_time_unit = 30s\n" +
		"smtpd_hard_error_limit = ${stress?1}${stress:12}\n" +
		"smtpd_junk_command_limit = 50\n" +
		"smtpd_recipient_limit = 500\n" +
		"smtpd_recipient_overshoot_limit = 1000\n" +
		"header_size_limit = 204800\n" +
		"hopcount_limit = 30\n" +
		"queue_minfree = 200000000\n" +
		"smtpd_timeout = 1m\n" +
		"smtpd_min_data_rate = 1000\n" +
		"smtpd_client_ipv6_prefix_length = 64\n" +
		"line_length_limit = 4096\n" +
		"minimal_backoff_time = 10m\n" +
		"maximal_backoff_time = 2h\n" +
		"smtp_connect_timeout = 45\n" +
		"smtp_helo_timeout = 60s\n" +
		"smtp_data_done_timeout = 20m\n" +
		"default_process_limit = 50\n" +
		"smtpd_client_event_limit_exceptions = $mynetworks\n"
	c, out := importDraft(t, main)
	l := c.Limits
	for _, g := range []struct {
		key       string
		got, want any
	}{
		{"max_connections_per_ip", l.MaxConnectionsPerIP, 10},
		{"connection_rate_per_ip", l.ConnectionRatePerIP, 60}, // 30 a 30s
		{"message_rate_per_ip", l.MessageRatePerIP, config.Rate{PerMinute: 180, Burst: 90}},
		{"max_errors", l.MaxErrors, 12},
		{"max_junk_commands", l.MaxJunkCommands, 50},
		{"max_recipients", l.MaxRecipients, 500},
		{"max_hops", l.MaxHops, 28}, // Postfix counts its own Received: and refuses at 30
		{"queue_minfree", l.QueueMinFree, 200000000},
		{"command_timeout", l.CommandTimeout.Duration, time.Minute},
		{"data_timeout", l.DataTimeout.Duration, time.Minute},
		{"min_data_rate", l.MinDataRate, 1000},
		{"client_ipv6_prefix_length", l.ClientIPv6PrefixLength, 64},
		{"max_header_size", l.MaxHeaderSize, 100 << 10}, // Sluice's: listed
		{"max_line_length", l.MaxLineLength, 4096},      // Sluice's: listed
		{"delivery connect_timeout", c.Delivery.ConnectTimeout.Duration, 45 * time.Second},
		{"delivery command_timeout", c.Delivery.CommandTimeout.Duration, 10 * time.Minute}, // half the final dot's 20m
		{"delivery workers", c.Delivery.Workers, 128},                                      // Sluice's: listed
	} {
		if g.got != g.want {
			t.Errorf("%s = %v, want %v\n%s", g.key, g.got, g.want, out)
		}
	}
	var retry []time.Duration
	for _, d := range c.Delivery.Retry {
		retry = append(retry, d.Duration)
	}
	if want := []time.Duration{10 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute, 2 * time.Hour}; !slices.Equal(retry, want) {
		t.Errorf("retry = %v, want %v\n%s", retry, want, out)
	}
	want := []string{"smtpd_recipient_overshoot_limit", "header_size_limit", "line_length_limit", "smtp_helo_timeout", "default_process_limit", "mydestination"}
	if got := notCarried(t, out); !slices.Equal(got, want) {
		t.Errorf("not carried over: %q, want %q\n%s", got, want, out)
	}
	t.Setenv("SLUICE_TEST_MAIN", "1")
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", "-c", path}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("check-config: exit %d: %s%s\n%s", code, stderr.String(), stdout.String(), out)
	}
}

// Left out of main.cf, none of them is written: the draft keeps Sluice's
// defaults, whatever Postfix's are.
func TestImportPostfixSessionLimitsDefaults(t *testing.T) {
	c, out := importDraft(t, "")
	for _, key := range []string{"max_connections_per_ip", "connection_rate_per_ip", "message_rate_per_ip", "max_errors",
		"max_junk_commands", "max_recipients", "max_hops", "queue_minfree", "command_timeout", "data_timeout",
		"min_data_rate", "client_ipv6_prefix_length", "connect_timeout", "retry"} {
		if strings.Contains(out, "\n"+key+" = ") {
			t.Errorf("%s written:\n%s", key, out)
		}
	}
	def, err := config.Parse("sluice.toml", []byte("hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:25\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, d := c.Limits, def.Limits
	l.MaxMessageSize, l.MaxDataMemory = d.MaxMessageSize, d.MaxDataMemory // message_size_limit's default is written
	if !reflect.DeepEqual(l, d) {
		t.Errorf("limits %+v, want Sluice's defaults %+v", l, d)
	}
	if !slices.Equal(c.Delivery.Retry, def.Delivery.Retry) || c.Delivery.CommandTimeout != def.Delivery.CommandTimeout || c.Delivery.ConnectTimeout != def.Delivery.ConnectTimeout {
		t.Errorf("delivery %+v, want Sluice's defaults", c.Delivery)
	}
}

// Odd values as Postfix reads them: 0 is no limit where Postfix says
// so, a unit on a time (seconds without one), and a value Postfix would
// not start with, or that Sluice cannot say, is listed.
func TestImportPostfixSessionLimitsOdd(t *testing.T) {
	for _, c := range []struct {
		main   string
		check  func(*config.Config) bool
		listed string
	}{
		{main: "smtpd_client_connection_count_limit = 0\n", check: func(c *config.Config) bool { return c.Limits.MaxConnectionsPerIP == -1 }},
		{main: "smtpd_client_connection_rate_limit = 0\n", check: func(c *config.Config) bool { return c.Limits.ConnectionRatePerIP == -1 }},
		{main: "smtpd_client_message_rate_limit = 0\n", check: func(c *config.Config) bool { return c.Limits.MessageRatePerIP.Unlimited() }},
		{main: "smtpd_client_connection_rate_limit = 100\nanvil_rate_time_unit = 1h\n", check: func(c *config.Config) bool { return c.Limits.ConnectionRatePerIP == 2 }},
		{main: "smtpd_client_message_rate_limit = 100\nanvil_rate_time_unit = 2d\n", check: func(c *config.Config) bool {
			return c.Limits.MessageRatePerIP == config.Rate{PerMinute: 1, Burst: 100}
		}},
		{main: "smtpd_client_message_rate_limit = 40\nanvil_rate_time_unit = soon\n", listed: "anvil_rate_time_unit",
			check: func(c *config.Config) bool { return c.Limits.MessageRatePerIP == config.Rate{PerMinute: 40, Burst: 40} }},
		{main: "smtpd_client_connection_count_limit = many\n", listed: "smtpd_client_connection_count_limit",
			check: func(c *config.Config) bool { return c.Limits.MaxConnectionsPerIP == 50 }},
		{main: "smtpd_recipient_limit = 0\n", listed: "smtpd_recipient_limit", check: func(c *config.Config) bool { return c.Limits.MaxRecipients == 1000 }},
		{main: "smtpd_hard_error_limit = 0\n", listed: "smtpd_hard_error_limit", check: func(c *config.Config) bool { return c.Limits.MaxErrors == 20 }},
		{main: "smtpd_junk_command_limit = -1\n", listed: "smtpd_junk_command_limit", check: func(c *config.Config) bool { return c.Limits.MaxJunkCommands == 100 }},
		{main: "queue_minfree = 0\n", listed: "queue_minfree", check: func(c *config.Config) bool { return c.Limits.QueueMinFree == 64<<20 }},
		{main: "hopcount_limit = 2\n", listed: "hopcount_limit", check: func(c *config.Config) bool { return c.Limits.MaxHops == 50 }},
		{main: "hopcount_limit = 3\n", check: func(c *config.Config) bool { return c.Limits.MaxHops == 1 }},
		{main: "smtpd_client_ipv6_prefix_length = 129\n", listed: "smtpd_client_ipv6_prefix_length", check: func(c *config.Config) bool { return c.Limits.ClientIPv6PrefixLength == 84 }},
		{main: "smtpd_min_data_rate = 0\n", listed: "smtpd_min_data_rate", check: func(c *config.Config) bool { return c.Limits.MinDataRate == 500 }},
		{main: "smtpd_timeout = 5m\n", check: func(c *config.Config) bool {
			return c.Limits.CommandTimeout.Duration == 5*time.Minute && c.Limits.DataTimeout.Duration == 5*time.Minute
		}},
		{main: "smtpd_timeout = 1h\n", check: func(c *config.Config) bool { return c.Limits.CommandTimeout.Duration == time.Hour }},
		{main: "smtpd_timeout = 2d\n", check: func(c *config.Config) bool { return c.Limits.DataTimeout.Duration == 48*time.Hour }},
		{main: "smtpd_timeout = 90\n", check: func(c *config.Config) bool { return c.Limits.CommandTimeout.Duration == 90*time.Second }},
		{main: "smtpd_timeout = 0\n", listed: "smtpd_timeout", check: func(c *config.Config) bool { return c.Limits.CommandTimeout.Duration == 5*time.Minute }},
		{main: "smtpd_timeout = 1.5m\n", listed: "smtpd_timeout", check: func(c *config.Config) bool { return c.Limits.CommandTimeout.Duration == 5*time.Minute }},
		{main: "smtpd_client_event_limit_exceptions = 192.0.2.0/24\n", listed: "smtpd_client_event_limit_exceptions", check: func(*config.Config) bool { return true }},
		{main: "smtpd_client_connection_limit_exceptions = ${mynetworks}\n", check: func(*config.Config) bool { return true }},
		{main: "smtp_connect_timeout = 0\n", listed: "smtp_connect_timeout", check: func(c *config.Config) bool { return c.Delivery.ConnectTimeout.Duration == 30*time.Second }},
		{main: "smtp_connect_timeout = 2m\n", check: func(c *config.Config) bool { return c.Delivery.ConnectTimeout.Duration == 2*time.Minute }},
		// Postfix's defaults with one set shorter: 5m, Sluice's own.
		{main: "smtp_rcpt_timeout = 1m\n", listed: "smtp_rcpt_timeout", check: func(c *config.Config) bool { return c.Delivery.CommandTimeout.Duration == 5*time.Minute }},
		{main: "smtp_rcpt_timeout = 1h\n", check: func(c *config.Config) bool { return c.Delivery.CommandTimeout.Duration == time.Hour }},
		{main: "smtp_data_done_timeout = 1d\n", check: func(c *config.Config) bool { return c.Delivery.CommandTimeout.Duration == 12*time.Hour }},
		{main: "smtp_data_done_timeout = 1201\n", check: func(c *config.Config) bool { return c.Delivery.CommandTimeout.Duration == 601*time.Second }},
		{main: "smtp_helo_timeout = 0\n", listed: "smtp_helo_timeout", check: func(c *config.Config) bool { return c.Delivery.CommandTimeout.Duration == 5*time.Minute }},
		{main: "maximal_backoff_time = 1d\n", check: func(c *config.Config) bool {
			return slices.Equal(durations(c.Delivery.Retry), []time.Duration{5 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute,
				40 * time.Minute, 80 * time.Minute, 160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute, 24 * time.Hour})
		}},
		{main: "minimal_backoff_time = 2h\nmaximal_backoff_time = 1h\n", check: func(c *config.Config) bool {
			return slices.Equal(durations(c.Delivery.Retry), []time.Duration{2 * time.Hour})
		}},
		{main: "minimal_backoff_time = 0\n", listed: "minimal_backoff_time", check: func(c *config.Config) bool { // made with Postfix's 300s
			return slices.Equal(durations(c.Delivery.Retry), []time.Duration{300 * time.Second, 300 * time.Second, 600 * time.Second,
				1200 * time.Second, 2400 * time.Second, 4000 * time.Second})
		}},
	} {
		cfg, out := importDraft(t, c.main)
		if !c.check(cfg) {
			t.Errorf("%q: unexpected config\n%s", c.main, out)
		}
		name, _, _ := strings.Cut(c.main, " ")
		dropped := notCarried(t, out)
		for _, p := range []string{name, "anvil_rate_time_unit", c.listed} {
			if got := slices.Contains(dropped, p); p != "" && got != (p == c.listed) {
				t.Errorf("%q: %s listed as not carried over: %v\n%s", c.main, p, got, out)
			}
		}
	}
}

func durations(ds []config.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range ds {
		out = append(out, d.Duration)
	}
	return out
}

// Postfix's backoff, the message's age within the bounds, doubles from
// the minimum to the maximum; the list stops there, Sluice repeating its
// last wait, even for bounds near time.Duration's end.
func TestPfBackoff(t *testing.T) {
	for _, c := range []struct {
		lo, hi time.Duration
		want   []time.Duration
	}{
		{300 * time.Second, 4000 * time.Second, []time.Duration{300 * time.Second, 300 * time.Second, 600 * time.Second, 1200 * time.Second, 2400 * time.Second, 4000 * time.Second}},
		{time.Hour, time.Hour, []time.Duration{time.Hour}},
		{time.Hour, time.Minute, []time.Duration{time.Hour}},
		{time.Second, 3 * time.Second, []time.Duration{time.Second, time.Second, 2 * time.Second, 3 * time.Second}},
	} {
		if got := pfBackoff(c.lo, c.hi); !slices.Equal(got, c.want) {
			t.Errorf("pfBackoff(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
	const huge = time.Duration(1<<63 - 1)
	got := pfBackoff(time.Second, huge)
	if got[len(got)-1] != huge || len(got) > 70 {
		t.Errorf("pfBackoff(1s, max) = %d waits ending %v", len(got), got[len(got)-1])
	}
}
