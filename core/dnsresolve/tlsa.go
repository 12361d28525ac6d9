package dnsresolve

import (
	"context"
	"encoding/hex"

	"github.com/miekg/dns"
)

// TLSA is one TLSA record (RFC 6698 §2.1): which certificate of the
// server's chain it names (Usage), which part of it (Selector) and how
// (MatchingType: the data whole, or its SHA-256 or SHA-512 digest).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// LookupTLSA returns name's TLSA records (name is _PORT._tcp.HOST, RFC
// 6698 §3) and whether the resolver validated the answer with DNSSEC
// (its AD bit). Records from an answer that is not secure must not be
// used (RFC 7672 §2.2). NXDOMAIN is an *Error for which IsNotFound is
// true; NOERROR without records is an empty slice. SERVFAIL, which a
// validating resolver answers for a bogus answer, is a temporary *Error.
func (r *Resolver) LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	resp, err := r.ask(ctx, name, dns.TypeTLSA, true)
	if err != nil {
		return nil, false, err
	}
	out := []TLSA{}
	for _, rr := range answers(resp) {
		t, ok := rr.(*dns.TLSA)
		if !ok {
			continue
		}
		// miekg/dns holds the data as hex; it was binary on the wire, so
		// it always decodes.
		data, err := hex.DecodeString(t.Certificate)
		if err != nil {
			continue
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	return out, resp.AuthenticatedData, nil
}
