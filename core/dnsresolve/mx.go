package dnsresolve

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// MX is one mail exchanger of a domain.
type MX struct {
	Host string // lowercased, without the trailing dot
	Pref uint16 // lower is preferred (RFC 5321 §5.1)
}

// LookupMX returns domain's mail exchangers sorted by preference, then by
// host name so that the order is deterministic. RFC 5321 §5.1 requires the
// client to randomize hosts of equal preference: the delivery agent does
// that with its own (injectable) random source, so this answer stays
// predictable for tests and other callers.
//
// Outcomes:
//   - NXDOMAIN: an *Error for which IsNotFound is true.
//   - NOERROR without MX records: an empty slice and a nil error; the caller
//     applies the implicit MX rule (RFC 5321 §5.1).
//   - null MX (RFC 7505 §3, a lone MX with target "."): a nil slice and an
//     error wrapping ErrNullMX. A "." target listed next to real exchangers
//     is dropped, as it names no host.
//   - SERVFAIL, REFUSED, timeouts: a temporary *Error.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	mxs, _, err := r.lookupMX(ctx, domain, false)
	return mxs, err
}

// LookupMXSecure is LookupMX that also reports whether the resolver
// validated the answer with DNSSEC (its AD bit): DANE looks for TLSA
// records only at MX hosts from a secure MX RRset (RFC 7672 §2.2.1). A
// secure empty answer makes the domain its own secure implicit MX.
func (r *Resolver) LookupMXSecure(ctx context.Context, domain string) ([]MX, bool, error) {
	return r.lookupMX(ctx, domain, true)
}

func (r *Resolver) lookupMX(ctx context.Context, domain string, dnssec bool) ([]MX, bool, error) {
	resp, err := r.ask(ctx, domain, dns.TypeMX, dnssec)
	if err != nil {
		return nil, false, err
	}
	secure := dnssec && resp.AuthenticatedData
	var out []MX
	null := false
	for _, rr := range answers(resp) {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue // answers holds the question's type only
		}
		if mx.Mx == "." {
			null = true
			continue
		}
		out = append(out, MX{Host: strings.ToLower(strings.TrimSuffix(mx.Mx, ".")), Pref: mx.Preference})
	}
	if null && len(out) == 0 {
		return nil, secure, fmt.Errorf("%s: %w", domain, ErrNullMX)
	}
	slices.SortFunc(out, func(a, b MX) int {
		if a.Pref != b.Pref {
			return int(a.Pref) - int(b.Pref)
		}
		return strings.Compare(a.Host, b.Host)
	})
	out = slices.Compact(out)
	if out == nil {
		out = []MX{}
	}
	return out, secure, nil
}
