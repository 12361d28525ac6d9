package config

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The session limits smtpd cannot run without used to pass here and stop
// `serve` with "smtpd: config limits unset"; only the abuse limits take -1.
func TestRequiredLimitsMustBePositive(t *testing.T) {
	cases := []struct{ src, want string }{
		{"max_connections = -5", "f.toml:5: max_connections must be positive"},
		{"max_connections = -1", "f.toml:5: max_connections must be positive"},
		{"max_message_size = -1", "f.toml:5: max_message_size must be positive"},
		{"max_recipients = -1", "f.toml:5: max_recipients must be positive"},
		{"max_line_length = -1", "f.toml:5: max_line_length must be at least 1000"},
		{"command_timeout = \"-1s\"", "f.toml:5: limits.command_timeout: negative duration"},
		{"data_timeout = -1", "f.toml:5: limits.data_timeout: bad duration"},
		{"auth_lockout = -1", "f.toml:5: limits.auth_lockout: bad duration"},
		{"max_errors = -2", "f.toml:5: max_errors must be positive, or -1"},
		{"max_header_size = -7", "f.toml:5: max_header_size must be positive, or -1"},
		{"max_junk_commands = -2", "f.toml:5: max_junk_commands must be positive, or -1"},
		{"min_data_rate = -2", "f.toml:5: min_data_rate must be positive, or -1"},
		{"min_data_rate = 1.5", "f.toml:5: limits.min_data_rate"},
		{"client_ipv6_prefix_length = 129", "f.toml:5: client_ipv6_prefix_length must be from 1 to 128, not 129"},
		{"client_ipv6_prefix_length = -1", "f.toml:5: client_ipv6_prefix_length must be from 1 to 128, not -1"},
		{"recipient_rate_per_sender = { per_minute = -2 }", "f.toml:5: recipient_rate_per_sender must be positive, or -1"},
		{"recipient_rate_per_sender = { per_minute = 10, burst = -1 }", "f.toml:5: recipient_rate_per_sender: burst must be positive"},
	}
	for _, tc := range cases {
		_, err := Parse("f.toml", []byte(minimal+"[limits]\n"+tc.src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want prefix %q", tc.src, err, tc.want)
		}
	}
	// What the README's [limits] list lets -1 turn off still parses.
	src := minimal + "[limits]\nmax_connections_per_ip = -1\nconnection_rate_per_ip = -1\nmax_messages_per_connection = -1\n" +
		"message_rate_per_ip = { per_minute = -1 }\nmessage_rate_per_sender = { per_minute = -1 }\nrecipient_rate_per_sender = { per_minute = -1 }\nmax_errors = -1\n" +
		"auth_failures_per_ip = -1\nmax_header_size = -1\nqueue_minfree = -1\nmax_junk_commands = -1\nmin_data_rate = -1\n"
	if _, err := Parse("f.toml", []byte(src)); err != nil {
		t.Fatal(err)
	}
}

// "0s" retried a deferred message in a tight loop.
func TestRetryFloor(t *testing.T) {
	for _, r := range []string{`["0s"]`, `["5m", "0s"]`, `["1ms"]`} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\n# schedule\nretry = "+r+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), "f.toml:6: retry[") {
			t.Errorf("retry = %s: got %v", r, err)
		}
	}
	c, err := Parse("f.toml", []byte(minimal+"[delivery]\nretry = [\"1s\", \"20ms\"]\n"))
	if err != nil || c.Delivery.Retry[0].Duration != time.Second {
		t.Fatalf("retry: %v", err)
	}
}

// local_domains = ["Example.ORG."] once never matched: the lookup
// normalised the query but not the configured name.
func TestLocalDomainsNormalised(t *testing.T) {
	c, err := Parse("f.toml", []byte("local_domains = [\"Example.ORG.\", \"mail.Example.net\"]\n"+minimal))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"example.org", "EXAMPLE.org.", "mail.example.net", "Mail.Example.Net."} {
		if !c.IsLocalDomain(d) {
			t.Errorf("IsLocalDomain(%q) = false", d)
		}
	}
	if c.IsLocalDomain("example.net") || c.IsLocalDomain("org") {
		t.Error("IsLocalDomain matched a foreign domain")
	}
	if c.LocalDomains[0] != "example.org" {
		t.Errorf("stored as %q", c.LocalDomains[0])
	}
	// A Config built by hand, not through Parse, matches as well.
	if !(&Config{LocalDomains: []string{"Example.ORG."}}).IsLocalDomain("example.org") {
		t.Error("unnormalised Config")
	}
}

// The IPv6 grouping of the per-IP limits takes any prefix length, 128
// (each address alone) included.
func TestClientIPv6PrefixLength(t *testing.T) {
	for _, n := range []int{1, 48, 128} {
		c, err := Parse("f.toml", []byte(minimal+"[limits]\nclient_ipv6_prefix_length = "+strconv.Itoa(n)+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Limits.ClientIPv6PrefixLength; got != n {
			t.Errorf("client_ipv6_prefix_length = %d parsed as %d", n, got)
		}
	}
}

// recipient_rate_per_sender left out is 600 a minute with a burst of
// 1000 (one message to the default max_recipients); a per_minute alone
// takes it as its burst, as the other rates do.
func TestRecipientRatePerSenderDefault(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want Rate
	}{
		{"", Rate{600, 1000}},
		{"recipient_rate_per_sender = { per_minute = 100 }", Rate{100, 100}},
		{"recipient_rate_per_sender = { burst = 50 }", Rate{600, 50}},
		{"recipient_rate_per_sender = { per_minute = -1 }", Rate{-1, -1}},
	} {
		c, err := Parse("f.toml", []byte(minimal+"[limits]\n"+tc.src+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if got := c.Limits.RecipientRatePerSender; got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.src, got, tc.want)
		}
	}
}
