package dnsresolve

import (
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzTXTBytes puts arbitrary bytes in a TXT character-string on the wire
// (RFC 1035 §3.3.14) and reads it back as LookupTXT does: unescapeTXT
// gives back exactly the bytes the zone holds, whatever miekg/dns's
// presentation escaping made of them.
func FuzzTXTBytes(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", `a"b\c`, "\x00\x01\xff", `\065`, "caf\xc3\xa9", `\\\`, "  "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 255 {
			data = data[:255]
		}
		mark := bytes.Repeat([]byte{'Q'}, len(data))
		m := new(dns.Msg)
		m.SetQuestion("t.example.", dns.TypeTXT)
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "t.example.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{string(mark)}}}
		wire, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.LastIndex(wire, append([]byte{byte(len(data))}, mark...))
		if i < 0 {
			t.Fatal("character-string not found in the packed message")
		}
		copy(wire[i+1:], data)
		var got dns.Msg
		if err := got.Unpack(wire); err != nil {
			t.Fatalf("unpack: %v", err)
		}
		rrs := answers(&got)
		if len(rrs) != 1 {
			t.Fatalf("%d answers", len(rrs))
		}
		txt := rrs[0].(*dns.TXT)
		if s := unescapeTXT(strings.Join(txt.Txt, "")); s != string(data) {
			t.Fatalf("unescapeTXT(%q) = %q, want %q", txt.Txt, s, data)
		}
	})
}

// FuzzAnswers reads arbitrary DNS messages: answers never panics and
// returns only records of the question's type and class.
func FuzzAnswers(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("a.example.", dns.TypeA)
	m.Answer = []dns.RR{
		&dns.CNAME{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "b.example."},
		&dns.CNAME{Hdr: dns.RR_Header{Name: "b.example.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "a.example."},
		&dns.A{Hdr: dns.RR_Header{Name: "b.example.", Rrtype: dns.TypeA, Class: dns.ClassINET}},
	}
	if wire, err := m.Pack(); err == nil {
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var m dns.Msg
		if m.Unpack(wire) != nil {
			return
		}
		for _, rr := range answers(&m) {
			if h := rr.Header(); h.Rrtype != m.Question[0].Qtype || h.Class != m.Question[0].Qclass {
				t.Fatalf("answer %v to %v", rr, m.Question[0])
			}
		}
	})
}
