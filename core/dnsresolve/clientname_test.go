package dnsresolve

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

func TestClientName(t *testing.T) {
	z := startZone(t,
		// Verified: the PTR name's A record is the address again.
		"10.2.0.192.in-addr.arpa. PTR Mail.Example.org.",
		"mail.example.org. A 192.0.2.10",
		// The first name does not resolve back, the second does.
		"11.2.0.192.in-addr.arpa. PTR forged.example.org.",
		"11.2.0.192.in-addr.arpa. PTR real.example.org.",
		"forged.example.org. A 192.0.2.99",
		"real.example.org. A 192.0.2.11",
		// No name resolves back.
		"12.2.0.192.in-addr.arpa. PTR elsewhere.example.org.",
		"elsewhere.example.org. A 192.0.2.99",
		// A PTR that is no host name, though its "A" record matches.
		"13.2.0.192.in-addr.arpa. PTR bad_name.example.org.",
		"bad_name.example.org. A 192.0.2.13",
		"14.2.0.192.in-addr.arpa. PTR 192.0.2.14.",
		"192.0.2.14. A 192.0.2.14",
		// The forward lookup fails for now.
		"15.2.0.192.in-addr.arpa. PTR flaky.example.org.",
		"flaky.example.org. A 192.0.2.15",
		// IPv6 is confirmed by AAAA, not A.
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR v6.example.org.",
		"v6.example.org. AAAA 2001:db8::1",
	)
	z.failName("16.2.0.192.in-addr.arpa")
	z.failName("flaky.example.org")
	r := newResolver(t, z.Addr)
	for _, c := range []struct {
		ip       string
		want     string
		wantTemp bool
	}{
		{"192.0.2.10", "mail.example.org", false},
		{"::ffff:192.0.2.10", "mail.example.org", false},
		{"192.0.2.11", "real.example.org", false},
		{"192.0.2.12", "", false},
		{"192.0.2.13", "", false},
		{"192.0.2.14", "", false},
		{"192.0.2.15", "", true},
		{"192.0.2.16", "", true},
		{"192.0.2.17", "", false}, // NXDOMAIN: no PTR at all
		{"2001:db8::1", "v6.example.org", false},
	} {
		got, err := r.ClientName(context.Background(), netip.MustParseAddr(c.ip))
		if got != c.want || (err != nil) != c.wantTemp || (err != nil && !IsTemporary(err)) {
			t.Errorf("ClientName(%s) = %q, %v; want %q, temporary error %v", c.ip, got, err, c.want, c.wantTemp)
		}
	}
}

// TestClientNameChecksAtMostTenNames: each PTR name costs a forward lookup
// while the client waits, so an address with hundreds of them is not
// walked to the end.
func TestClientNameChecksAtMostTenNames(t *testing.T) {
	var rrs []string
	for i := range 30 {
		rrs = append(rrs, fmt.Sprintf("20.2.0.192.in-addr.arpa. PTR n%d.example.org.", i))
		rrs = append(rrs, fmt.Sprintf("n%d.example.org. A 192.0.2.%d", i, 100+i))
	}
	rrs = append(rrs, "n29.example.org. A 192.0.2.20") // the 30th would verify
	z := startZone(t, rrs...)
	got, err := newResolver(t, z.Addr).ClientName(context.Background(), netip.MustParseAddr("192.0.2.20"))
	if got != "" || err != nil {
		t.Fatalf("ClientName = %q, %v; want unknown", got, err)
	}
	asked := 0
	for i := range 30 {
		asked += z.count("udp", fmt.Sprintf("n%d.example.org", i), "A")
	}
	if asked != maxClientPTR {
		t.Fatalf("%d forward lookups, want %d", asked, maxClientPTR)
	}
}

func TestIsHostName(t *testing.T) {
	for name, want := range map[string]bool{
		"mail.example.org": true,
		"a":                true,
		"123.example.org":  true,
		"x-1.example":      true,
		"":                 false,
		"1.2.3.4":          false,
		"-a.example":       false,
		"a-.example":       false,
		"a..example":       false,
		"a_b.example":      false,
		"a b.example":      false,
		"é.example":        false,
	} {
		if got := IsHostName(name); got != want {
			t.Errorf("IsHostName(%q) = %v, want %v", name, got, want)
		}
	}
}
