package netlist

import "testing"

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"192.0.2.77/24", "192.0.2.0/24"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
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
	if _, err := Prefixes([]string{"10.0.0.0/8", "nope"}); err == nil || err.Error() != `"nope" is not a network or address` {
		t.Errorf("Prefixes: %v", err)
	}
}
