package spf

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// zoneEntry is one line of a test-suite zone: a record, or a TIMEOUT
// marker (for the whole name, or for one type when rtype is set).
type zoneEntry struct {
	rtype   uint16 // 0 with timeout: the name-wide TIMEOUT
	timeout bool
	value   any // string, []string (TXT/SPF) or [pref, host] (MX)
}

// suiteDNS is a real DNS server on 127.0.0.1 (UDP and TCP on one port)
// answering from a test-suite zone the way the suite's reference driver
// (pyspf's testspf.py) does: a name-wide TIMEOUT fails the types not
// listed before it, an unknown name is NXDOMAIN (SERVFAIL under "error."),
// CNAMEs are followed. A TIMEOUT is answered with SERVFAIL rather than
// silence so that the suite runs without waiting out timeouts; the
// resolver treats both as a DNS error.
type suiteDNS struct {
	Addr string

	mu      sync.Mutex
	zone    map[string][]zoneEntry // wire-form lowercased FQDN
	queries int
	asked   map[string]int // "name.|TYPE"
}

func startSuiteDNS(t testing.TB, zone map[string][]zoneEntry) *suiteDNS {
	t.Helper()
	d := &suiteDNS{zone: map[string][]zoneEntry{}, asked: map[string]int{}}
	for name, entries := range zone {
		d.zone[wireName(name)] = entries
	}
	d.Addr = testlib.ServeDNS(t, d)
	return d
}

// wireName is name as a server sees it in a question: FQDN, lowercased,
// with miekg/dns's presentation escapes (a space becomes "\ ").
func wireName(name string) string {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	b, err := m.Pack()
	if err == nil {
		var u dns.Msg
		if u.Unpack(b) == nil {
			return strings.ToLower(u.Question[0].Name)
		}
	}
	return strings.ToLower(dns.Fqdn(name))
}

// count is how many questions the server answered.
func (d *suiteDNS) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries
}

// countName is how many questions for name and qtype the server answered.
func (d *suiteDNS) countName(name string, qtype uint16) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked[wireName(name)+"|"+dns.TypeToString[qtype]]
}

func (d *suiteDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	q := req.Question[0]
	d.mu.Lock()
	d.queries++
	d.asked[strings.ToLower(q.Name)+"|"+dns.TypeToString[q.Qtype]]++
	m.Answer, m.Rcode = d.answer(q.Name, q.Qtype, 0)
	d.mu.Unlock()
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// answer returns the records of owner/qtype, following a CNAME.
func (d *suiteDNS) answer(owner string, qtype uint16, depth int) ([]dns.RR, int) {
	name := strings.ToLower(owner)
	entries, ok := d.zone[name]
	if !ok {
		if strings.HasPrefix(name, "error.") {
			return nil, dns.RcodeServerFailure
		}
		return nil, dns.RcodeNameError
	}
	var out, cnames []dns.RR
	seen := false
	for _, e := range entries {
		if e.timeout && e.rtype == 0 {
			if !seen {
				return nil, dns.RcodeServerFailure
			}
			break
		}
		if e.rtype == qtype {
			seen = true
			if e.timeout {
				return nil, dns.RcodeServerFailure
			}
			out = append(out, makeRR(owner, e))
		} else if e.rtype == dns.TypeCNAME && !e.timeout {
			cnames = append(cnames, makeRR(owner, e))
		}
	}
	if len(out) > 0 || len(cnames) == 0 {
		return out, dns.RcodeSuccess
	}
	// Follow the alias (RFC 1034 §3.6.2); a loop ends with the CNAMEs.
	out = cnames[:1]
	if depth < 8 {
		more, rcode := d.answer(cnames[0].(*dns.CNAME).Target, qtype, depth+1)
		if rcode != dns.RcodeSuccess && rcode != dns.RcodeNameError {
			return nil, rcode
		}
		out = append(out, more...)
	}
	return out, dns.RcodeSuccess
}

func makeRR(owner string, e zoneEntry) dns.RR {
	hdr := dns.RR_Header{Name: owner, Rrtype: e.rtype, Class: dns.ClassINET, Ttl: 60}
	switch e.rtype {
	case dns.TypeA:
		return &dns.A{Hdr: hdr, A: net.ParseIP(e.value.(string))}
	case dns.TypeAAAA:
		return &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(e.value.(string))}
	case dns.TypePTR:
		return &dns.PTR{Hdr: hdr, Ptr: dns.Fqdn(e.value.(string))}
	case dns.TypeCNAME:
		return &dns.CNAME{Hdr: hdr, Target: dns.Fqdn(e.value.(string))}
	case dns.TypeMX:
		v := e.value.([]any)
		return &dns.MX{Hdr: hdr, Preference: uint16(v[0].(int)), Mx: dns.Fqdn(v[1].(string))}
	case dns.TypeTXT:
		return &dns.TXT{Hdr: hdr, Txt: txtStrings(e.value.([]string))}
	case dns.TypeSPF:
		return &dns.SPF{Hdr: hdr, Txt: txtStrings(e.value.([]string))}
	}
	panic(fmt.Sprintf("record type %d", e.rtype))
}

// txtStrings turns raw strings into what miekg/dns packs: at most 255
// bytes each, backslashes escaped (it reads \X and \DDD escapes).
func txtStrings(raw []string) []string {
	out := []string{}
	for _, s := range raw {
		for len(s) > 255 {
			out = append(out, strings.ReplaceAll(s[:255], `\`, `\\`))
			s = s[255:]
		}
		out = append(out, strings.ReplaceAll(s, `\`, `\\`))
	}
	return out
}
