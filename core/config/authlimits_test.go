package config

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSessionLimitDefaults(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	want := Limits{
		MaxMessageSize: 50 << 20, MaxRecipients: 1000, MaxLineLength: 4096,
		CommandTimeout: Duration{5 * time.Minute}, DataTimeout: Duration{10 * time.Minute}, MaxConnections: 1000,
		MaxConnectionsPerIP: 50, ConnectionRatePerIP: 120, MaxMessagesPerConnection: 100,
		MessageRatePerIP: Rate{PerMinute: 120, Burst: 120}, MessageRatePerSender: Rate{PerMinute: 60, Burst: 60},
		MaxErrors: 20, AuthFailuresPerIP: 5, AuthLockout: Duration{15 * time.Minute},
		AuthFailureDelay: Duration{time.Second}, MaxHeaderSize: 100 << 10, QueueMinFree: 64 << 20, MaxDataMemory: 512 << 20, MaxHops: 50,
		MaxJunkCommands: 100, ClientIPv6PrefixLength: 84, MinDataRate: 500,
		RecipientRatePerSender: Rate{PerMinute: 600, Burst: 1000},
		RecipientRatePerIP:     Rate{PerMinute: -1, Burst: -1}, SoftErrors: 10, ErrorDelay: Duration{time.Second},
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("limits\n%+v, want\n%+v", l, want)
	}
	if c.Auth.UsersFile != "" || len(c.Auth.Senders) != 0 {
		t.Fatalf("auth %+v", c.Auth)
	}
}

func TestSessionLimitsAndAuth(t *testing.T) {
	src := minimal + `[limits]
max_connections_per_ip = -1
connection_rate_per_ip = 30
max_messages_per_connection = 10
message_rate_per_ip = { per_minute = 10 }
message_rate_per_sender = { per_minute = -1 }
max_errors = 5
auth_failures_per_ip = 3
auth_lockout = "1h"
auth_failure_delay = "3s"
max_header_size = 65536

[auth]
users_file = "users"
senders_file = "senders"
[auth.senders]
alice = ["alice@example.org", "@alice.example"]
"bob@example.org" = ["*"]
`
	c, err := Parse("/etc/sluice/sluice.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.MaxConnectionsPerIP != -1 || l.ConnectionRatePerIP != 30 || l.MaxMessagesPerConnection != 10 ||
		l.MessageRatePerIP != (Rate{10, 10}) || !l.MessageRatePerSender.Unlimited() || l.MaxErrors != 5 ||
		l.AuthFailuresPerIP != 3 || l.AuthLockout.Duration != time.Hour || l.AuthFailureDelay.Duration != 3*time.Second ||
		l.MaxHeaderSize != 65536 {
		t.Fatalf("limits %+v", l)
	}
	if got := c.Resolve(c.Auth.UsersFile); got != "/etc/sluice/users" {
		t.Fatalf("users_file resolves to %q", got)
	}
	if len(c.Auth.Senders["alice"]) != 2 || c.Auth.Senders["bob@example.org"][0] != "*" || c.Auth.SendersFile != "senders" {
		t.Fatalf("auth %+v", c.Auth)
	}
}

func TestSessionLimitErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"below -1", minimal + "[limits]\nmax_errors = -2\n", "f.toml:5: max_errors must be positive, or -1"},
		{"bad rate key", minimal + "[limits]\nmessage_rate_per_ip = { per_hour = 1 }\n", "f.toml:5: unknown key limits"},
		{"bad burst", minimal + "[limits]\nmessage_rate_per_ip = { per_minute = 5, burst = -3 }\n", "f.toml:5: message_rate_per_ip: burst must be positive"},
		{"bad lockout", minimal + "[limits]\nauth_lockout = \"-1m\"\n", "f.toml:5: limits.auth_lockout"},
		{"unknown auth key", minimal + "[auth]\nusers = \"x\"\n", "f.toml:5: unknown key auth.users"},
		{"bad sender", minimal + "[auth.senders]\nalice = [\"alice\"]\n", "f.toml:5: bad sender \"alice\" for alice"},
		{"bad sender list", minimal + "[auth.senders]\nalice = [\"a@b\", \"x y@z\"]\n", "f.toml:5: bad sender \"x y@z\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// queue_minfree: a number of bytes, -1 to turn the check off, nothing
// below.
func TestQueueMinFreeConfig(t *testing.T) {
	for src, want := range map[string]int{"queue_minfree = 1048576": 1 << 20, "queue_minfree = -1": -1} {
		c, err := Parse("f.toml", []byte(minimal+"[limits]\n"+src+"\n"))
		if err != nil || c.Limits.QueueMinFree != want {
			t.Errorf("%s: %d, %v", src, c.Limits.QueueMinFree, err)
		}
	}
	if _, err := Parse("f.toml", []byte(minimal+"[limits]\nqueue_minfree = -2\n")); err == nil || !strings.Contains(err.Error(), "queue_minfree") {
		t.Errorf("queue_minfree = -2: %v", err)
	}
}

// max_data_memory: 512 MiB by default, or twice max_message_size when
// that is more; -1 for no bound; never less than twice max_message_size,
// reported at its line.
func TestMaxDataMemoryConfig(t *testing.T) {
	for src, want := range map[string]int64{
		"":                              512 << 20,
		"max_message_size = 1073741824": 2 << 30,
		"max_data_memory = 104857600":   100 << 20,
		"max_data_memory = -1":          -1,
		"max_message_size = 1000\nmax_data_memory = 2000": 2000,
		// Twice this passes 2^63: the bound saturates rather than wrap.
		"max_message_size = 9223372036854775807": math.MaxInt64,
		"max_message_size = 4611686018427387904": math.MaxInt64,
	} {
		c, err := Parse("f.toml", []byte(minimal+"[limits]\n"+src+"\n"))
		if err != nil || c.Limits.MaxDataMemory != want {
			t.Errorf("%q: %d, %v; want %d", src, c.Limits.MaxDataMemory, err, want)
		}
	}
	for _, src := range []string{"max_data_memory = -2", "max_message_size = 1000\nmax_data_memory = 1999",
		"max_message_size = 9223372036854775807\nmax_data_memory = 536870912"} {
		_, err := Parse("f.toml", []byte(minimal+"[limits]\n"+src+"\n"))
		if err == nil || !strings.Contains(err.Error(), "max_data_memory must be at least twice max_message_size") || !strings.HasPrefix(err.Error(), "f.toml:") {
			t.Errorf("%q: %v", src, err)
		}
	}
}
