package dnsresolve

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A validating resolver's answer for an alias carries the CNAME chain
// and the target's addresses: LookupIPSecure names the target, secure
// or not, and LookupCNAMESecure reads the AD bit of the alias's own
// CNAME answer (RFC 7672 §2.2.2).
func TestLookupIPSecureNamesTheCNAMETarget(t *testing.T) {
	secure := map[string]bool{"mx.secure.test.": true, "mx2.secure.test.": true}
	srv := testlib.ServeDNS(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		m := new(dns.Msg)
		m.SetReply(req)
		target := "Host.Provider.test."
		if q.Name == "mx2.secure.test." {
			target = "host.insecure.test."
		}
		cname := &dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target}
		m.Answer = append(m.Answer, cname)
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: target, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}})
		}
		// The chain to host.insecure.test ends in an unsigned zone: the
		// address answer is not secure, the first CNAME is.
		m.AuthenticatedData = secure[q.Name] && (q.Qtype == dns.TypeCNAME || target != "host.insecure.test.")
		_ = w.WriteMsg(m)
	}))
	r, err := New([]string{srv}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h, err := r.LookupIPSecure(ctx, "mx.secure.test"); err != nil || !h.Secure || h.Target != "host.provider.test" || len(h.Addrs) != 1 {
		t.Fatalf("secure alias: %+v %v", h, err)
	}
	if h, err := r.LookupIPSecure(ctx, "mx2.secure.test"); err != nil || h.Secure || h.Target != "host.insecure.test" {
		t.Fatalf("insecure chain: %+v %v", h, err)
	}
	if ok, err := r.LookupCNAMESecure(ctx, "mx2.secure.test"); err != nil || !ok {
		t.Fatalf("CNAME at mx2.secure.test: secure=%v %v, want secure", ok, err)
	}
	if ok, err := r.LookupCNAMESecure(ctx, "mx.other.test"); err != nil || ok {
		t.Fatalf("CNAME at an unsigned name: secure=%v %v", ok, err)
	}
}
