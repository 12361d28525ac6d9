package dnsresolve

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

func TestLookupTXTDecodesEscapes(t *testing.T) {
	z := startZone(t)
	// Raw bytes a zone file could only write escaped: a quote, a
	// backslash, CR, and a non-ASCII byte.
	raw := "v=spf1 a:\"q\\\r\x96 -all"
	rr := &dns.TXT{
		Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
		// packTxtString reads backslash escapes, so the backslash is doubled.
		Txt: []string{"v=spf1 a:\"q\\\\", "\r\x96 -all"},
	}
	z.mu.Lock()
	z.records["example.org.|TXT"] = []dns.RR{rr}
	z.names["example.org."] = true
	z.mu.Unlock()

	got, err := newResolver(t, z.Addr).LookupTXT(context.Background(), "example.org")
	if err != nil || len(got) != 1 || got[0] != raw {
		t.Fatalf("LookupTXT = %q, %v; want [%q]", got, err, raw)
	}
}

func TestUnescapeTXT(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:       "plain",
		`a\"b`:        `a"b`,
		`a\\b`:        `a\b`,
		`\013x\150`:   "\rx\x96",
		`\999`:        "999",
		`trailing\`:   `trailing\`,
		`\12 partial`: "12 partial",
	} {
		if got := unescapeTXT(in); got != want {
			t.Errorf("unescapeTXT(%q) = %q, want %q", in, got, want)
		}
	}
}
