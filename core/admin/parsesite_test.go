package admin

import (
	"strings"
	"testing"
)

// A bare IP address is refused with the bracketed literal that names the
// mail sent to it: as a domain it would match no recipient.
func TestParseSiteBareAddress(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1", "[127.0.0.1]"},
		{"::1", "[IPv6:::1]"},
	} {
		_, err := ParseSite(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSite(%q) = %v, want an error naming %s", c.in, err, c.want)
		}
	}
	for _, in := range []string{"[127.0.0.1]", "[IPv6:2001:db8::1]", "example.org", "Example.ORG."} {
		if _, err := ParseSite(in); err != nil {
			t.Errorf("ParseSite(%q): %v", in, err)
		}
	}
}
