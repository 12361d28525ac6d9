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
	h, err := r.lookupIP(ctx, host, false, Families{V4: true, V6: true})
	return h.Addrs, err
}

// Host is LookupIPSecure's answer.
type Host struct {
	Addrs []netip.Addr
	// Secure: every address came in an answer the resolver validated
	// with DNSSEC (its AD bit, which covers a CNAME chain too).
	Secure bool
	// Target is the name the addresses were found at when the host is
	// an alias: the end of its CNAME chain (lowercased, no trailing
	// dot), the A answer's when A and AAAA differ; "" when it is none.
	Target string
}

// LookupIPSecure is LookupIP that also reports whether every address it
// returns came in an answer the resolver validated with DNSSEC and the
// CNAME chain they came through: DANE looks for TLSA records only at
// hosts whose addresses are secure, first at the chain's target (RFC
// 7672 §2.2.2). An IP literal, which asks no one, is not secure.
func (r *Resolver) LookupIPSecure(ctx context.Context, host string) (Host, error) {
	return r.lookupIP(ctx, host, true, Families{V4: true, V6: true})
}

// Families says which address types LookupIPFamilies asks for.
type Families struct{ V4, V6 bool }

// LookupIPFamilies is LookupIP, or with dnssec LookupIPSecure, asking
// only for the address types fam names: a client restricted to one IP
// family asks no question whose answer it cannot use. An IP literal of
// another family is returned as is, for the caller to refuse.
func (r *Resolver) LookupIPFamilies(ctx context.Context, host string, fam Families, dnssec bool) (Host, error) {
	return r.lookupIP(ctx, host, dnssec, fam)
}

func (r *Resolver) lookupIP(ctx context.Context, host string, dnssec bool, fam Families) (Host, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return Host{Addrs: []netip.Addr{a.Unmap()}}, nil
	}
	// A type not asked for is an answer with no address and no error.
	var v4, six addrsResult
	aaaa := make(chan addrsResult, 1)
	if fam.V6 {
		go func() { aaaa <- r.lookupAddrs(ctx, host, dns.TypeAAAA, dnssec) }()
	} else {
		aaaa <- addrsResult{}
	}
	if fam.V4 {
		v4 = r.lookupAddrs(ctx, host, dns.TypeA, dnssec)
	}
	six = <-aaaa
	addrs := append(v4.addrs, six.addrs...)
	// Secure when no address came from an answer that was not: an
	// address type that failed or had none adds nothing to trust.
	secure := dnssec && len(addrs) > 0 && (len(v4.addrs) == 0 || v4.secure) && (len(six.addrs) == 0 || six.secure)
	target := v4.owner
	if len(v4.addrs) == 0 {
		target = six.owner
	}
	if strings.EqualFold(target, strings.TrimSuffix(ASCII(host), ".")) {
		target = ""
	}
	switch {
	case len(addrs) > 0:
		return Host{Addrs: addrs, Secure: secure, Target: target}, nil
	case v4.err == nil && six.err == nil:
		return Host{Addrs: []netip.Addr{}}, nil
	case v4.err != nil && IsTemporary(v4.err):
		return Host{}, v4.err
	case six.err != nil && IsTemporary(six.err):
		return Host{}, six.err
	case v4.err != nil:
		return Host{}, v4.err
	default:
		return Host{}, six.err
	}
}

// addrsResult is one address type's answer: its addresses, whether it
// came validated (dnssec asked for it), and the name that owns them.
type addrsResult struct {
	addrs  []netip.Addr
	secure bool
	owner  string
	err    error
}

// lookupAddrs asks for one address type (dns.TypeA or dns.TypeAAAA).
func (r *Resolver) lookupAddrs(ctx context.Context, host string, qtype uint16, dnssec bool) addrsResult {
	resp, err := r.ask(ctx, host, qtype, dnssec)
	if err != nil {
		return addrsResult{err: err}
	}
	var out []netip.Addr
	rrs, owner := chase(resp)
	for _, rr := range rrs {
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
	return addrsResult{addrs: out, secure: dnssec && resp.AuthenticatedData, owner: owner}
}
