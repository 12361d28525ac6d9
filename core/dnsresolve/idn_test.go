package dnsresolve

import (
	"context"
	"slices"
	"testing"
)

func TestASCII(t *testing.T) {
	for in, want := range map[string]string{
		"bücher.test":        "xn--bcher-kva.test",
		"CAFÉ.test":          "xn--caf-dma.test", // UTS #46 maps to lower case
		"_mta-sts.café.test": "_mta-sts.xn--caf-dma.test",
		"Example.ORG":        "Example.ORG", // ASCII is left as given
		"xn--bcher-kva.test": "xn--bcher-kva.test",
		"mx.bücher.test.":    "mx.xn--bcher-kva.test.",
	} {
		if got := ASCII(in); got != want {
			t.Errorf("ASCII(%q) = %q, want %q", in, got, want)
		}
	}
}

// ALabels converts as ASCII does, and refuses a label IDNA disallows
// rather than passing it on as it is.
func TestALabels(t *testing.T) {
	for in, want := range map[string]string{
		"bücher.test":   "xn--bcher-kva.test",
		"mx.CAFÉ.test":  "mx.xn--caf-dma.test",
		"Example.ORG":   "Example.ORG",
		"_dmarc.é.test": "_dmarc.xn--9ca.test",
	} {
		if got, err := ALabels(in); err != nil || got != want {
			t.Errorf("ALabels(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"a b.test", "⒈.test"} { // a no-break space; "1." as one character
		if got, err := ALabels(in); err == nil {
			t.Errorf("ALabels(%q) = %q, want an error", in, got)
		}
	}
}

// An internationalized domain is asked of DNS as its A-label (RFC 5890):
// the zone holds only that.
func TestLookupUnicodeDomain(t *testing.T) {
	z := startZone(t, "xn--bcher-kva.test. MX 10 mx.xn--bcher-kva.test.", "xn--caf-dma.test. AAAA ::1")
	r := newResolver(t, z.Addr)
	mx, err := r.LookupMX(context.Background(), "bücher.test")
	if err != nil || !slices.Equal(mx, []MX{{"mx.xn--bcher-kva.test", 10}}) {
		t.Errorf("LookupMX = %v, %v", mx, err)
	}
	ips, err := r.LookupIP(context.Background(), "café.test")
	if err != nil || len(ips) != 1 || ips[0].String() != "::1" {
		t.Errorf("LookupIP = %v, %v", ips, err)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Example.ORG.":          "example.org",
		"Bücher.Example":        "xn--bcher-kva.example",
		"xn--BCHER-kva.example": "xn--bcher-kva.example",
	} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}
