package config

import (
	"net/netip"
	"testing"
)

// relay_networks holds a link-local client however its address arrives:
// with the interface zone a link-local connection reports, or mapped.
func TestInRelayNetworksIgnoresZoneAndMapping(t *testing.T) {
	c, err := Parse("sluice.toml", []byte(`hostname = "mx.example.org"
relay_networks = ["fe80::/10", "192.0.2.0/24"]
[[listener]]
name = "mx"
listen = "127.0.0.1:2525"
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"fe80::1%eth0", true},
		{"fe80::1", true},
		{"::ffff:192.0.2.7", true},
		{"192.0.2.7", true},
		{"2001:db8::1%eth0", false},
	} {
		if got := c.InRelayNetworks(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("InRelayNetworks(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}
