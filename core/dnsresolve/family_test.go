package dnsresolve

import (
	"context"
	"net/netip"
	"slices"
	"testing"
)

// LookupIPFamilies asks only for the address types it is given: a
// client restricted to IPv4 sends no AAAA query, one restricted to IPv6
// no A query; both is LookupIP.
func TestLookupIPFamiliesAsksOnlyItsTypes(t *testing.T) {
	z := startZone(t, "mx.example.org. A 192.0.2.1", "mx.example.org. AAAA 2001:db8::1")
	r := newResolver(t, z.Addr)
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for _, c := range []struct {
		fam     Families
		want    []netip.Addr
		a, aaaa int // queries of each type, running totals
	}{
		{Families{V4: true}, []netip.Addr{v4}, 1, 0},
		{Families{V6: true}, []netip.Addr{v6}, 1, 1},
		{Families{V4: true, V6: true}, []netip.Addr{v4, v6}, 2, 2},
	} {
		got, err := r.LookupIPFamilies(context.Background(), "mx.example.org", c.fam, false)
		if err != nil || !slices.Equal(got.Addrs, c.want) {
			t.Errorf("%+v: %v, %v; want %v", c.fam, got.Addrs, err, c.want)
		}
		if a, aaaa := z.count("udp", "mx.example.org", "A"), z.count("udp", "mx.example.org", "AAAA"); a != c.a || aaaa != c.aaaa {
			t.Errorf("%+v: %d A and %d AAAA queries so far, want %d and %d", c.fam, a, aaaa, c.a, c.aaaa)
		}
	}
}
