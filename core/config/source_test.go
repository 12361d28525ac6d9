package config

import (
	"strings"
	"testing"
)

// [delivery] source_address takes an IPv4 address and source_address6
// an IPv6 one, each stored plain (an IPv4-mapped form as IPv4); whether
// the host has it is left to each connection.
func TestSourceAddress(t *testing.T) {
	for _, tc := range []struct {
		toml, want4, want6, err string
	}{
		{`source_address = "192.0.2.10"`, "192.0.2.10", "", ""},
		{`source_address6 = "2001:DB8::10"`, "", "2001:db8::10", ""},
		{"source_address = \"192.0.2.10\"\nsource_address6 = \"2001:db8::10\"", "192.0.2.10", "2001:db8::10", ""},
		{`source_address = "::ffff:192.0.2.10"`, "192.0.2.10", "", ""},
		{`source_address = "mail.example.org"`, "", "", `f.toml:5: source_address: "mail.example.org" is not an IP address`},
		{`source_address = "2001:db8::10"`, "", "", "want an IPv4 address (an IPv6 one goes in source_address6)"},
		{`source_address6 = "192.0.2.10"`, "", "", "want an IPv6 address (an IPv4 one goes in source_address)"},
		{`source_address6 = "::ffff:192.0.2.10"`, "", "", "want an IPv6 address"},
		{`source_address = "0.0.0.0"`, "", "", "leave the setting out for the kernel's choice"},
		{`source_address6 = "::"`, "", "", "leave the setting out"},
		{`source_address = "192.0.2.10/32"`, "", "", "is not an IP address"},
	} {
		c, err := Parse("f.toml", []byte(minimal+"[delivery]\n"+tc.toml+"\n"))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.toml, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.toml, err)
			continue
		}
		if c.Delivery.SourceAddress != tc.want4 || c.Delivery.SourceAddress6 != tc.want6 {
			t.Errorf("%s: %q, %q; want %q, %q", tc.toml, c.Delivery.SourceAddress, c.Delivery.SourceAddress6, tc.want4, tc.want6)
		}
	}
}
