package dnsresolve

import (
	"context"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// LookupIP returns host's addresses: its A records, then its AAAA records,
// each in the order the server gave them. An IP literal (optionally in
// brackets) is returned as is without asking DNS. Every other name,
// "localhost" included, is asked of the nameservers.
//
// If one of the two queries fails but the other gives addresses, the
// addresses win. NXDOMAIN on both is an *Error for which IsNotFound is true;
// NOERROR with no address is an empty slice and a nil error.
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	type result struct {
		addrs []netip.Addr
		err   error
	}
	aaaa := make(chan result, 1)
	go func() {
		addrs, err := r.lookupAddrs(ctx, host, dns.TypeAAAA)
		aaaa <- result{addrs, err}
	}()
	v4, err4 := r.lookupAddrs(ctx, host, dns.TypeA)
	six := <-aaaa
	addrs := append(v4, six.addrs...)
	switch {
	case len(addrs) > 0:
		return addrs, nil
	case err4 == nil && six.err == nil:
		return []netip.Addr{}, nil
	case err4 != nil && IsTemporary(err4):
		return nil, err4
	case six.err != nil && IsTemporary(six.err):
		return nil, six.err
	case err4 != nil:
		return nil, err4
	default:
		return nil, six.err
	}
}

// lookupAddrs asks for one address type (dns.TypeA or dns.TypeAAAA).
func (r *Resolver) lookupAddrs(ctx context.Context, host string, qtype uint16) ([]netip.Addr, error) {
	resp, err := r.query(ctx, host, qtype)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range answers(resp) {
		var ip []byte
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A
		case *dns.AAAA:
			ip = v.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}
