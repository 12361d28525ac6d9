package config

import (
	"slices"
	"strings"
	"testing"
)

// [delivery] fallback_relay takes relay's forms, host:port, [host]:port,
// [host], host and an smtp: route, in order; an entry that is no relay,
// one listed twice in another spelling and the relay itself are errors
// at the key's line.
func TestFallbackRelay(t *testing.T) {
	list := `["[backup.example.net]:2525", "b2.example.net", "[2001:db8::7]", "smtp:b3.example.net:587?tls=verify&authfile=fb.auth"]`
	c, err := Parse("f.toml", []byte(minimal+"[delivery]\nrelay = \"smarthost.example:25\"\nfallback_relay = "+list+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"[backup.example.net]:2525", "b2.example.net", "[2001:db8::7]", "smtp:b3.example.net:587?tls=verify&authfile=fb.auth"}
	if !slices.Equal(c.Delivery.FallbackRelay, want) {
		t.Errorf("fallback_relay %q, want %q", c.Delivery.FallbackRelay, want)
	}
	for _, tc := range []struct{ src, want string }{
		{`fallback_relay = ["b1.example", "bad host"]`, `fallback_relay[1] = "bad host": `},
		{`fallback_relay = [""]`, `fallback_relay[0] = "": `},
		{`fallback_relay = ["b1.example:0"]`, `fallback_relay[0] = "b1.example:0": `},
		{`fallback_relay = ["[B1.example.]", "b1.example:25"]`, `fallback_relay[1] = "b1.example:25": listed twice`},
		{`fallback_relay = ["smtp:b1.example?tls=verify", "[b1.example]:25"]`, `fallback_relay[1] = "[b1.example]:25": listed twice`},
		{"relay = \"smtp:[smarthost.example]?tls=required\"\nfallback_relay = [\"smarthost.example:25\"]", `fallback_relay[0] = "smarthost.example:25": it is [delivery] relay`},
		{`fallback_relay = "b1.example"`, `delivery.fallback_relay: want an array`},
	} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\n"+tc.src+"\n"))
		line := "f.toml:" + map[bool]string{false: "5", true: "6"}[strings.HasPrefix(tc.src, "relay")] + ": "
		if err == nil || !strings.HasPrefix(err.Error(), line+tc.want) {
			t.Errorf("%s: got %v, want prefix %q", tc.src, err, line+tc.want)
		}
	}
}
