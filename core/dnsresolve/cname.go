package dnsresolve

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// LookupCNAMESecure reports whether name is an alias whose CNAME record
// came in an answer the resolver validated (its AD bit). DANE asks when
// an MX host's address answer came through a CNAME chain that is not
// secure as a whole: a secure first link still makes the host's own name
// a TLSA base domain (RFC 7671 §7, RFC 7672 §2.2.2), as Postfix's
// qname_secure() finds. A name that is no alias is not secure.
func (r *Resolver) LookupCNAMESecure(ctx context.Context, name string) (bool, error) {
	resp, err := r.ask(ctx, name, dns.TypeCNAME, true)
	if err != nil {
		return false, err
	}
	for _, rr := range resp.Answer {
		if _, ok := rr.(*dns.CNAME); ok && strings.EqualFold(rr.Header().Name, dns.Fqdn(ASCII(name))) {
			return resp.AuthenticatedData, nil
		}
	}
	return false, nil
}
