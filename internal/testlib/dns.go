package testlib

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/internal/udptcp"
)

// DNS is a miekg/dns server on loopback answering from a zone map of
// resource records in presentation format ("example.net. 60 IN MX 10 mx.example.net.").
type DNS struct {
	Addr string

	mu      sync.Mutex
	records map[string][]dns.RR // key: lowercased name + "/" + type
	fail    map[string]bool     // names answered SERVFAIL
	srv     *dns.Server
}

// NewDNS starts a UDP DNS server on 127.0.0.1 with the given records.
func NewDNS(t testing.TB, rrs ...string) *DNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &DNS{Addr: pc.LocalAddr().String(), records: map[string][]dns.RR{}, fail: map[string]bool{}}
	for _, s := range rrs {
		d.Add(t, s)
	}
	started := make(chan struct{})
	d.srv = &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = d.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = d.srv.Shutdown() })
	return d
}

// Add adds one record.
func (d *DNS) Add(t testing.TB, s string) {
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("bad RR %q: %v", s, err)
	}
	k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
	d.mu.Lock()
	d.records[k] = append(d.records[k], rr)
	d.mu.Unlock()
}

// Fail makes every question for name answer SERVFAIL.
func (d *DNS) Fail(name string) {
	d.mu.Lock()
	d.fail[dns.Fqdn(strings.ToLower(name))] = true
	d.mu.Unlock()
}

// ServeDNS answers from the record map; a name with no records of any type
// is NXDOMAIN.
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail[name] {
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	}
	m.Answer = append(m.Answer, d.records[name+"/"+dns.TypeToString[q.Qtype]]...)
	if len(m.Answer) == 0 {
		exists := false
		for k := range d.records {
			if strings.HasPrefix(k, name+"/") {
				exists = true
			}
		}
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
	}
	_ = w.WriteMsg(m)
}

// ListenUDPTCP binds UDP and TCP on one free 127.0.0.1 port, as a DNS
// server needs; a free UDP port's TCP twin may be taken by another test
// process, so it tries a few ports.
func ListenUDPTCP(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	pc, ln, err := udptcp.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	return pc, ln
}

// ServeDNS serves h over UDP and TCP on one free 127.0.0.1 port until the
// test ends, and returns the address: a test's own DNS server when the
// zone map of NewDNS does not do (a hostile answer, a hung server).
func ServeDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, ln := ListenUDPTCP(t)
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}
