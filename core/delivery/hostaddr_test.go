package delivery

import "testing"

// A next hop is named as Postfix's relay= names it, so that an operator's
// log searches and tools keep working: the address alone in brackets.
func TestHostAddrPostfixForm(t *testing.T) {
	for _, c := range []struct{ host, addr, want string }{
		{"mx.example.net", "192.0.2.7:25", "mx.example.net[192.0.2.7]:25"},
		{"mx.example.net", "[2001:db8::7]:25", "mx.example.net[2001:db8::7]:25"},
		{"mx.example.net", "[::1]:2700", "mx.example.net[::1]:2700"},
		{"host.example", "/run/dovecot/lmtp", "host.example[/run/dovecot/lmtp]"},
	} {
		if got := hostAddr(c.host, c.addr); got != c.want {
			t.Errorf("hostAddr(%q, %q) = %q, want %q", c.host, c.addr, got, c.want)
		}
	}
}
