package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// A 2048-bit key's record is longer than one TXT string, as `sluice dkim
// keygen` prints it: several quoted strings.
var longTXT = `"v=DKIM1; k=rsa; p=` + strings.Repeat("A", 200) + `" "` + strings.Repeat("B", 200) + `" "` + strings.Repeat("C", 200) + `"`

var zone = `; bench.test, the sending domain
bench.test. IN TXT "v=spf1 ip4:127.0.0.0/8 -all"
_dmarc.bench.test. 60 IN TXT "v=DMARC1; p=reject"
bench._domainkey.bench.test. IN TXT ` + longTXT + `
`

func start(t *testing.T) *Server {
	t.Helper()
	z, err := ParseZone(strings.NewReader(zone), "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start("127.0.0.1:0", z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func ask(t *testing.T, net, addr, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: net}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", net, name, err)
	}
	return r
}

func txt(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

func TestAnswersTheZone(t *testing.T) {
	s := start(t)
	for _, netw := range []string{"udp", "tcp"} {
		r := ask(t, netw, s.Addr, "BENCH.test.", dns.TypeTXT, true)
		if got := txt(r); r.Rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != "v=spf1 ip4:127.0.0.0/8 -all" || r.Answer[0].Header().Ttl != 300 {
			t.Errorf("%s SPF: rcode %d, %q", netw, r.Rcode, got)
		}
		r = ask(t, netw, s.Addr, "_dmarc.bench.test.", dns.TypeTXT, true)
		if got := txt(r); len(got) != 1 || got[0] != "v=DMARC1; p=reject" || r.Answer[0].Header().Ttl != 60 {
			t.Errorf("%s DMARC: %v", netw, r.Answer)
		}
		r = ask(t, netw, s.Addr, "bench._domainkey.bench.test.", dns.TypeTXT, true)
		want := "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 200) + strings.Repeat("B", 200) + strings.Repeat("C", 200)
		if got := txt(r); len(got) != 1 || got[0] != want {
			t.Errorf("%s DKIM: %v", netw, r.Answer)
		}
		// A name with records, not of this type: NOERROR, no answer.
		r = ask(t, netw, s.Addr, "bench.test.", dns.TypeMX, false)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Errorf("%s MX: rcode %d, %v", netw, r.Rcode, r.Answer)
		}
		r = ask(t, netw, s.Addr, "nothing.bench.test.", dns.TypeTXT, false)
		if r.Rcode != dns.RcodeNameError {
			t.Errorf("%s unknown name: rcode %d, want NXDOMAIN", netw, r.Rcode)
		}
	}
}

func TestTruncatesOverUDPWithoutEDNS(t *testing.T) {
	s := start(t)
	// Without EDNS0 a UDP answer is limited to 512 bytes: the long DKIM
	// record does not fit, so TC tells the client to ask over TCP.
	r := ask(t, "udp", s.Addr, "bench._domainkey.bench.test.", dns.TypeTXT, false)
	if !r.Truncated {
		t.Fatalf("want TC over UDP without EDNS0, got %v", r)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	z, err := ParseZone(strings.NewReader(zone), "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:53", "localhost:53"} {
		if s, err := Start(addr, z); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded, want an error", addr)
		}
	}
}

func TestZoneErrors(t *testing.T) {
	for _, src := range []string{"", "; only a comment\n", "bench.test. IN A not-an-address\n", "bench.test. IN BOGUS x\n"} {
		if _, err := ParseZone(strings.NewReader(src), "z"); err == nil {
			t.Errorf("ParseZone(%q): want an error", src)
		}
	}
}

// -ad: an answer (records, none, NXDOMAIN) to a query with DO or AD set
// has AD set, as a validating resolver's for a signed zone; a query
// asking neither, or a stub without -ad, gets none. Sluice's resolver
// then takes the zone's TLSA records as secure, which DANE needs.
func TestAuthenticatedData(t *testing.T) {
	const tlsaZone = "mx.dane.test. IN A 127.0.0.1\n" +
		"_25._tcp.mx.dane.test. IN TLSA 3 1 1 " + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\n"
	z, err := ParseZone(strings.NewReader(tlsaZone), "test")
	if err != nil {
		t.Fatal(err)
	}
	z.Authenticated = true
	s, err := Start("127.0.0.1:0", z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	plain := start(t)
	askAD := func(netw, addr, name string, qtype uint16, do, ad bool) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.AuthenticatedData = ad
		if do {
			m.SetEdns0(1232, true)
		}
		r, _, err := (&dns.Client{Net: netw}).Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s %s: %v", netw, name, err)
		}
		return r
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range []struct {
			name     string
			qtype    uint16
			do, ad   bool
			want     bool
			wantCode int
		}{
			{"_25._tcp.mx.dane.test.", dns.TypeTLSA, true, false, true, dns.RcodeSuccess},
			{"_25._tcp.mx.dane.test.", dns.TypeTLSA, false, true, true, dns.RcodeSuccess},
			{"_25._tcp.mx.dane.test.", dns.TypeTLSA, false, false, false, dns.RcodeSuccess},
			{"mx.dane.test.", dns.TypeAAAA, true, true, true, dns.RcodeSuccess},
			{"none.dane.test.", dns.TypeA, true, false, true, dns.RcodeNameError},
		} {
			r := askAD(netw, s.Addr, tc.name, tc.qtype, tc.do, tc.ad)
			if r.AuthenticatedData != tc.want || r.Rcode != tc.wantCode {
				t.Errorf("%s %s %s DO=%v AD=%v: AD=%v rcode %d, want AD=%v rcode %d",
					netw, tc.name, dns.TypeToString[tc.qtype], tc.do, tc.ad, r.AuthenticatedData, r.Rcode, tc.want, tc.wantCode)
			}
			if o := r.IsEdns0(); netw == "udp" && tc.do && (o == nil || !o.Do()) {
				t.Errorf("%s %s: DO not copied into the answer's OPT (RFC 3225 §3): %v", netw, tc.name, o)
			}
		}
		if r := askAD(netw, plain.Addr, "bench.test.", dns.TypeTXT, true, true); r.AuthenticatedData {
			t.Errorf("%s: AD set without -ad", netw)
		}
	}
	res, err := dnsresolve.New([]string{s.Addr}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	recs, secure, err := res.LookupTLSA(context.Background(), "_25._tcp.mx.dane.test")
	if err != nil || !secure || len(recs) != 1 || recs[0].Usage != 3 {
		t.Errorf("LookupTLSA: %v secure=%v %v, want one secure 3 1 1 record", recs, secure, err)
	}
	host, err := res.LookupIPSecure(context.Background(), "mx.dane.test")
	if err != nil || !host.Secure {
		t.Errorf("LookupIPSecure: %+v %v, want secure", host, err)
	}
}
