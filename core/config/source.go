package config

import (
	"fmt"
	"net/netip"
)

// ParseSourceAddr parses an address outgoing SMTP and LMTP connections
// bind to ([delivery] source_address and source_address6, a route's
// source=), as Postfix's smtp_bind_address: an IP literal, an
// IPv4-mapped form (::ffff:192.0.2.10) taken as its IPv4 address as in
// every other address setting. The unspecified address (0.0.0.0, ::) is
// refused: it binds nothing, and leaving the setting out says so.
func ParseSourceAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("%s is no address of this host: leave the setting out for the kernel's choice", s)
	case a.IsMulticast():
		return netip.Addr{}, fmt.Errorf("%s is a multicast address, no address of this host", s)
	}
	return a, nil
}

// validateSource checks [delivery] source_address (IPv4) and
// source_address6 (IPv6) and stores each in its plain form. Whether the
// address is on this host is left to each connection: a failover address
// or an IPv6 one still in duplicate address detection at boot may come
// up after Sluice, and a delivery meanwhile is deferred, not lost.
func (c *Config) validateSource(f finder) error {
	for _, k := range []struct {
		key  string
		val  *string
		want string
		ipv6 bool
	}{
		{"source_address", &c.Delivery.SourceAddress, "an IPv4 address (an IPv6 one goes in source_address6)", false},
		{"source_address6", &c.Delivery.SourceAddress6, "an IPv6 address (an IPv4 one goes in source_address)", true},
	} {
		if *k.val == "" {
			continue
		}
		a, err := ParseSourceAddr(*k.val)
		if err != nil {
			return f.err("delivery", -1, k.key, fmt.Sprintf("%s: %v", k.key, err))
		}
		if a.Is6() != k.ipv6 {
			return f.err("delivery", -1, k.key, fmt.Sprintf("%s = %q: want %s", k.key, *k.val, k.want))
		}
		*k.val = a.String()
	}
	return nil
}
