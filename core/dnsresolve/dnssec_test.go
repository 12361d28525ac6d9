package dnsresolve

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// validatingZone answers as a validating resolver does: with AD set on
// the answers of names it holds secure, when the query asked for it (AD
// or DO, RFC 6840 §5.7), and SERVFAIL for bogus ones.
type validatingZone struct {
	records  map[string][]dns.RR // "name.|TYPE"
	insecure map[string]bool     // names answered without AD
	bogus    map[string]bool     // names answered SERVFAIL
	mu       sync.Mutex
	plain    int // queries asking for no validation
}

func startValidatingZone(t *testing.T, insecure, bogus []string, rrs ...string) (*validatingZone, *Resolver) {
	t.Helper()
	z := &validatingZone{records: map[string][]dns.RR{}, insecure: map[string]bool{}, bogus: map[string]bool{}}
	for _, n := range insecure {
		z.insecure[dns.Fqdn(n)] = true
	}
	for _, n := range bogus {
		z.bogus[dns.Fqdn(n)] = true
	}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		k := strings.ToLower(rr.Header().Name) + "|" + dns.TypeToString[rr.Header().Rrtype]
		z.records[k] = append(z.records[k], rr)
	}
	r, err := New([]string{testlib.ServeDNS(t, z)}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return z, r
}

// plainQueries counts the queries that asked for no validation.
func (z *validatingZone) plainQueries() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.plain
}

func (z *validatingZone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	m.SetReply(req)
	opt := req.IsEdns0()
	asked := req.AuthenticatedData || (opt != nil && opt.Do())
	z.mu.Lock()
	if !asked {
		z.plain++
	}
	z.mu.Unlock()
	if z.bogus[name] {
		m.Rcode = dns.RcodeServerFailure
	} else {
		m.Answer = z.records[name+"|"+dns.TypeToString[q.Qtype]]
		m.AuthenticatedData = asked && !z.insecure[name]
	}
	_ = w.WriteMsg(m)
}

func TestSecureLookupsReadTheADBit(t *testing.T) {
	z, r := startValidatingZone(t, []string{"mx.insecure.test", "_25._tcp.mx.insecure.test"}, []string{"_25._tcp.mx.bogus.test"},
		"secure.test. MX 10 mx.secure.test.",
		"mx.secure.test. A 192.0.2.1", "mx.secure.test. AAAA 2001:db8::1",
		"_25._tcp.mx.secure.test. TLSA 3 1 1 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"mx.insecure.test. A 192.0.2.2",
		"_25._tcp.mx.insecure.test. TLSA 3 1 1 0102",
	)
	ctx := context.Background()
	mxs, secure, err := r.LookupMXSecure(ctx, "secure.test")
	if err != nil || !secure || len(mxs) != 1 || mxs[0].Host != "mx.secure.test" {
		t.Fatalf("MX: %v secure=%v %v", mxs, secure, err)
	}
	if h, err := r.LookupIPSecure(ctx, "mx.secure.test"); err != nil || !h.Secure || len(h.Addrs) != 2 || h.Target != "" {
		t.Fatalf("IP: %+v %v", h, err)
	}
	if h, err := r.LookupIPSecure(ctx, "mx.insecure.test"); err != nil || h.Secure || len(h.Addrs) != 1 {
		t.Fatalf("insecure IP: %+v %v, want not secure", h, err)
	}
	recs, secure, err := r.LookupTLSA(ctx, "_25._tcp.mx.secure.test")
	if err != nil || !secure || len(recs) != 1 || recs[0].Usage != 3 || recs[0].Selector != 1 || recs[0].MatchingType != 1 || len(recs[0].Data) != 32 || recs[0].Data[31] != 0x20 {
		t.Fatalf("TLSA: %+v secure=%v %v", recs, secure, err)
	}
	if _, secure, err := r.LookupTLSA(ctx, "_25._tcp.mx.insecure.test"); err != nil || secure {
		t.Fatalf("insecure TLSA: secure=%v %v", secure, err)
	}
	if _, _, err := r.LookupTLSA(ctx, "_25._tcp.mx.bogus.test"); !IsTemporary(err) {
		t.Fatalf("bogus TLSA: %v, want a temporary error", err)
	}
	if recs, _, err := r.LookupTLSA(ctx, "_25._tcp.mx.none.test"); err != nil || len(recs) != 0 {
		t.Fatalf("no TLSA: %+v %v", recs, err)
	}
	if n := z.plainQueries(); n != 0 {
		t.Errorf("%d secure lookups did not ask for validation (AD/DO)", n)
	}
	// The plain lookups do not ask, and are not told.
	if _, err := r.LookupMX(ctx, "secure.test"); err != nil || z.plainQueries() != 1 {
		t.Errorf("LookupMX: %v, %d plain queries, want 1", err, z.plainQueries())
	}
}
