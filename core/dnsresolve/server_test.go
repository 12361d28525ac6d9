package dnsresolve

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// zoneServer is a real DNS server on 127.0.0.1 (UDP and TCP on the same
// port) answering from a map of records written in zone-file syntax.
type zoneServer struct {
	Addr string

	mu       sync.Mutex
	records  map[string][]dns.RR // "name.|TYPE"
	names    map[string]bool     // owners that exist (NOERROR)
	servfail map[string]bool     // names answered with SERVFAIL
	truncate map[string]bool     // names truncated over UDP
	queries  map[string]int      // "udp|name.|TYPE" → count
}

// startZone serves the given records until the test ends.
func startZone(t *testing.T, rrs ...string) *zoneServer {
	t.Helper()
	z := &zoneServer{
		records:  map[string][]dns.RR{},
		names:    map[string]bool{},
		servfail: map[string]bool{},
		truncate: map[string]bool{},
		queries:  map[string]int{},
	}
	for _, s := range rrs {
		z.add(t, s)
	}
	z.Addr = testlib.ServeDNS(t, z)
	return z
}

func (z *zoneServer) add(t *testing.T, s string) {
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("bad RR %q: %v", s, err)
	}
	h := rr.Header()
	name := strings.ToLower(h.Name)
	z.mu.Lock()
	defer z.mu.Unlock()
	key := name + "|" + dns.TypeToString[h.Rrtype]
	z.records[key] = append(z.records[key], rr)
	z.names[name] = true
}

func (z *zoneServer) failName(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.servfail[dns.Fqdn(name)] = true
}

func (z *zoneServer) truncateName(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.truncate[dns.Fqdn(name)] = true
}

func (z *zoneServer) count(network, name, qtype string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.queries[network+"|"+dns.Fqdn(name)+"|"+qtype]
}

// ServeDNS answers from the map: SERVFAIL, truncation, records, NOERROR
// without records for a known owner, NXDOMAIN otherwise.
func (z *zoneServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	network := "tcp"
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		network = "udp"
	}
	m := new(dns.Msg)
	m.SetReply(req)
	z.mu.Lock()
	z.queries[network+"|"+name+"|"+dns.TypeToString[q.Qtype]]++
	switch {
	case z.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case z.truncate[name] && network == "udp":
		m.Truncated = true
	case z.names[name]:
		m.Answer = append(m.Answer, z.records[name+"|"+dns.TypeToString[q.Qtype]]...)
	default:
		m.Rcode = dns.RcodeNameError
	}
	z.mu.Unlock()
	_ = w.WriteMsg(m)
}
