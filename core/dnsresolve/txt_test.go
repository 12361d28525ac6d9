package dnsresolve

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

func TestTXTAndPTR(t *testing.T) {
	d := testlib.NewDNS(t,
		`example.org. 60 IN TXT "v=spf1 " "ip4:192.0.2.0/24 -all"`,
		`example.org. 60 IN TXT "other"`,
		`4.3.2.1.in-addr.arpa. 60 IN PTR mail.example.org.`,
		`example.org. 60 IN A 192.0.2.1`,
		`example.org. 60 IN AAAA 2001:db8::1`,
	)
	t.Setenv(EnvServers, d.Addr)
	t.Setenv(EnvTimeout, "2s")
	r, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	txt, err := r.LookupTXT(ctx, "example.org")
	if err != nil || len(txt) != 2 || txt[0] != "v=spf1 ip4:192.0.2.0/24 -all" {
		t.Fatalf("txt %q %v", txt, err)
	}
	if _, err := r.LookupTXT(ctx, "nope.example.org"); !IsNotFound(err) {
		t.Fatalf("nxdomain: %v", err)
	}
	names, err := r.LookupPTR(ctx, netip.MustParseAddr("1.2.3.4"))
	if err != nil || len(names) != 1 || names[0] != "mail.example.org" {
		t.Fatalf("ptr %q %v", names, err)
	}
	a, _ := r.LookupA(ctx, "example.org")
	aaaa, _ := r.LookupAAAA(ctx, "example.org")
	if len(a) != 1 || len(aaaa) != 1 || !aaaa[0].Is6() {
		t.Fatalf("a %v aaaa %v", a, aaaa)
	}
}
