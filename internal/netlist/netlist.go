// Package netlist parses the network lists of the config and of the
// first-party plugins (relay_networks, skip_networks, sign_networks): each
// entry a CIDR network or a single address, one rule for all of them.
package netlist

import (
	"fmt"
	"net/netip"
	"strings"
)

// Prefix parses s, a network ("192.0.2.0/24", "2001:db8::/32") or a single
// address (a /32 or /128), as a masked prefix. An IPv4-mapped IPv6
// address or network is taken as the IPv4 one, as connections report
// their addresses unmapped: "::ffff:10.0.0.0/104" is 10.0.0.0/8, which
// kept as written would never contain a client.
func Prefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Prefixes parses every entry of list with Prefix; the error names the
// first bad one.
func Prefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := Prefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network or address", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// Contains reports whether ip is in one of list, by Match.
func Contains(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if Match(p, ip) {
			return true
		}
	}
	return false
}

// Match reports whether ip is in p. The address is compared without its
// IPv6 zone and unmapped: a link-local client reports its interface
// (fe80::1%eth0), which netip's Contains never matches, so "fe80::/10"
// would hold no such client; and a dual-stack socket may report an IPv4
// client as ::ffff:192.0.2.1.
func Match(p netip.Prefix, ip netip.Addr) bool {
	return p.Contains(ip.WithZone("").Unmap())
}
