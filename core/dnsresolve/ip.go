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
	addrs, _, err := r.lookupIP(ctx, host, false)
	return addrs, err
}

// LookupIPSecure is LookupIP that also reports whether every address it
// returns came in an answer the resolver validated with DNSSEC (its AD
// bit): DANE looks for TLSA records only at hosts whose addresses are
// secure (RFC 7672 §2.2.2). An IP literal, which asks no one, is not.
func (r *Resolver) LookupIPSecure(ctx context.Context, host string) ([]netip.Addr, bool, error) {
	return r.lookupIP(ctx, host, true)
}

func (r *Resolver) lookupIP(ctx context.Context, host string, dnssec bool) ([]netip.Addr, bool, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return []netip.Addr{a.Unmap()}, false, nil
	}
	type result struct {
		addrs  []netip.Addr
		secure bool
		err    error
	}
	aaaa := make(chan result, 1)
	go func() {
		addrs, secure, err := r.lookupAddrs(ctx, host, dns.TypeAAAA, dnssec)
		aaaa <- result{addrs, secure, err}
	}()
	v4, sec4, err4 := r.lookupAddrs(ctx, host, dns.TypeA, dnssec)
	six := <-aaaa
	addrs := append(v4, six.addrs...)
	// Secure when no address came from an answer that was not: an
	// address type that failed or had none adds nothing to trust.
	secure := dnssec && len(addrs) > 0 && (len(v4) == 0 || sec4) && (len(six.addrs) == 0 || six.secure)
	switch {
	case len(addrs) > 0:
		return addrs, secure, nil
	case err4 == nil && six.err == nil:
		return []netip.Addr{}, false, nil
	case err4 != nil && IsTemporary(err4):
		return nil, false, err4
	case six.err != nil && IsTemporary(six.err):
		return nil, false, six.err
	case err4 != nil:
		return nil, false, err4
	default:
		return nil, false, six.err
	}
}

// lookupAddrs asks for one address type (dns.TypeA or dns.TypeAAAA), and
// reports whether the answer came validated (dnssec asked for it).
func (r *Resolver) lookupAddrs(ctx context.Context, host string, qtype uint16, dnssec bool) ([]netip.Addr, bool, error) {
	resp, err := r.ask(ctx, host, qtype, dnssec)
	if err != nil {
		return nil, false, err
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
	return out, dnssec && resp.AuthenticatedData, nil
}
