package dnsresolve

import (
	"strings"

	"github.com/miekg/dns"
)

// maxCNAMEs bounds the CNAME chain followed through an answer section; a
// longer chain, or a loop, yields no records.
const maxCNAMEs = 8

// answers returns the records of resp's answer section that answer its
// question: of the question's type and class, owned by the question's
// name or by the end of the CNAME chain that starts there (RFC 1034
// §3.6.2, §4.3.2: a recursive server returns the chain with the records
// of its target). Records of any other owner answer nothing we asked: no
// honest server puts them there, and taking them would let one forged or
// broken reply speak for any name (RFC 5452 §9.1).
func answers(resp *dns.Msg) []dns.RR {
	rrs, _ := chase(resp)
	return rrs
}

// chase is answers, also returning the owner of the records it found:
// the question's name, or the target of its CNAME chain (lowercased,
// without the trailing dot), the name DANE looks for TLSA records at
// first (RFC 7672 §2.2.2). The owner is "" when there are no records.
func chase(resp *dns.Msg) ([]dns.RR, string) {
	if len(resp.Question) != 1 {
		return nil, ""
	}
	q := resp.Question[0]
	owner := q.Name
	for range maxCNAMEs + 1 {
		var out []dns.RR
		next := ""
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != q.Qclass || !strings.EqualFold(h.Name, owner) {
				continue
			}
			if h.Rrtype == q.Qtype {
				out = append(out, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && next == "" {
				next = c.Target
			}
		}
		if len(out) > 0 {
			return out, strings.ToLower(strings.TrimSuffix(owner, "."))
		}
		if next == "" {
			return nil, ""
		}
		owner = next
	}
	return nil, ""
}
