package config

import (
	"strings"
	"testing"
)

// [delivery] address_family is "any" by default and takes "ipv4" and
// "ipv6"; anything else is refused at its line.
func TestAddressFamily(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.AddressFamily != FamilyAny {
		t.Errorf("default %q, want any", c.Delivery.AddressFamily)
	}
	for _, v := range []string{"any", "ipv4", "ipv6"} {
		c, err := Parse("f.toml", []byte(minimal+"[delivery]\naddress_family = \""+v+"\"\n"))
		if err != nil || c.Delivery.AddressFamily != v {
			t.Errorf("address_family = %q: %v", v, err)
		}
	}
	for _, v := range []string{"all", "IPv4", "inet6"} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\naddress_family = \""+v+"\"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), "f.toml:5: ") || !strings.Contains(err.Error(), "address_family") {
			t.Errorf("address_family = %q: got %v, want an error at line 5", v, err)
		}
	}
}
