package netlist

import (
	"net/netip"
	"testing"
)

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"192.0.2.77/24", "192.0.2.0/24"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7/128", "192.0.2.7/32"},
		{"::ffff:10.1.2.3/104", "10.0.0.0/8"},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0"},
		{"::/0", "::/0"},
		{"::1/128", "::1/128"},
		{"fd00::/8", "fd00::/8"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"bad", ""},
		{"192.0.2.0/33", ""},
	} {
		p, err := Prefix(tc.in)
		got := ""
		if err == nil {
			got = p.String()
		}
		if got != tc.want {
			t.Errorf("Prefix(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// A mapped network matches the unmapped clients connections report.
	if p, _ := Prefix("::ffff:127.0.0.0/104"); !Contains([]netip.Prefix{p}, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("::ffff:127.0.0.0/104 (%v) does not contain 127.0.0.1", p)
	}
	// A link-local client reports its zone, which netip's own Contains
	// never matches; a dual-stack socket reports IPv4 clients mapped.
	for _, tc := range []struct {
		net, ip string
		want    bool
	}{
		{"fe80::/10", "fe80::1%eth0", true},
		{"fe80::1", "fe80::1%2", true},
		{"fe80::2", "fe80::1%eth0", false},
		{"192.0.2.0/24", "::ffff:192.0.2.9", true},
		{"2001:db8::/32", "fe80::1%eth0", false},
	} {
		p, err := Prefix(tc.net)
		if err != nil {
			t.Fatal(err)
		}
		if got := Contains([]netip.Prefix{p}, netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Contains(%s, %s) = %v, want %v", tc.net, tc.ip, got, tc.want)
		}
	}
	if _, err := Prefixes([]string{"10.0.0.0/8", "nope"}); err == nil || err.Error() != `"nope" is not a network or address` {
		t.Errorf("Prefixes: %v", err)
	}
}
