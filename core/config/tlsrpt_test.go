package config

import (
	"strings"
	"testing"
)

// TestTLSRPTKeys: the tls_rpt keys parse, take their defaults from the
// hostname, and refuse what would break a report's header.
func TestTLSRPTKeys(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal+"[delivery]\ntls_rpt = true\ntls_rpt_organization = \"Example Org\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Delivery.TLSReporting.Identity("mx.example.org.")
	want := TLSReporting{TLSRPT: true, TLSRPTSubmitter: "mx.example.org", TLSRPTFrom: "noreply-smtp-tls-reporting@mx.example.org",
		TLSRPTOrganization: "Example Org", TLSRPTContact: "noreply-smtp-tls-reporting@mx.example.org"}
	if got != want {
		t.Errorf("Identity: %+v, want %+v", got, want)
	}
	for _, bad := range []struct{ src, want string }{
		{"tls_rpt_submitter = \"not a domain\"", "tls_rpt_submitter"},
		{"tls_rpt_from = \"nobody\"", "tls_rpt_from"},
		{"tls_rpt_from = \"a b@example.org\"", "tls_rpt_from"},
		{"tls_rpt_contact = \"a\\r\\nBcc: x@example.org\"", "tls_rpt_contact"},
	} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\n"+bad.src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), "f.toml:") || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error at its line", bad.src, err)
		}
	}
}
