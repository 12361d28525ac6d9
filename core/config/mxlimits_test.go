package config

import (
	"strings"
	"testing"
)

// [delivery] mx_address_limit and mx_session_limit decode (they are
// fields of an embedded struct), take Postfix's defaults 5 and 2, accept
// -1 for no limit, and refuse anything below with the key's line.
func TestMXLimits(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Delivery; d.MXAddressLimit != 5 || d.MXSessionLimit != 2 {
		t.Errorf("defaults %d, %d; want 5, 2", d.MXAddressLimit, d.MXSessionLimit)
	}
	c, err = Parse("f.toml", []byte(minimal+"[delivery]\nmx_address_limit = 12\nmx_session_limit = -1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Delivery; d.MXAddressLimit != 12 || d.MXSessionLimit != -1 {
		t.Errorf("got %d, %d; want 12, -1", d.MXAddressLimit, d.MXSessionLimit)
	}
	for _, src := range []string{"mx_address_limit = -2", "mx_session_limit = -3"} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\n"+src+"\n"))
		key, _, _ := strings.Cut(src, " ")
		if want := "f.toml:5: " + key + " must be positive, or -1"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want prefix %q", src, err, want)
		}
	}
	if _, err := Parse("f.toml", []byte(minimal+"[delivery]\nmx_adress_limit = 3\n")); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("a misspelt key: got %v, want unknown key", err)
	}
}
