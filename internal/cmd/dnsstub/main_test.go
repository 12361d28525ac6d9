package main

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
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
