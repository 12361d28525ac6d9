package tlscipher

import (
	"crypto/tls"
	"testing"
)

// Every suite crypto/tls implements is named and sized: a suite a Go
// release adds fails here, not silently as a 0-bit cipher.
func TestEverySuiteKnown(t *testing.T) {
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, cs := range all {
		if Bits(cs.ID) == 0 || OpenSSLName(cs.Name) == cs.Name && cs.SupportedVersions[0] != tls.VersionTLS13 {
			t.Errorf("%s: bits %d, OpenSSL name %q", cs.Name, Bits(cs.ID), OpenSSLName(cs.Name))
		}
	}
}

// The names and sizes Postfix logs ("TLSv1.2 with cipher
// ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)").
func TestPostfixNames(t *testing.T) {
	for _, tc := range []struct {
		id   uint16
		name string
		bits int
	}{
		{tls.TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256", 128},
		{tls.TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384", 256},
		{tls.TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256", 256},
		{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", 256},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", 256},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA", 128},
		{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "DES-CBC3-SHA", 112},
	} {
		if got := OpenSSLName(tls.CipherSuiteName(tc.id)); got != tc.name {
			t.Errorf("OpenSSLName(%s) = %q, want %q", tls.CipherSuiteName(tc.id), got, tc.name)
		}
		if got := Bits(tc.id); got != tc.bits {
			t.Errorf("Bits(%s) = %d, want %d", tc.name, got, tc.bits)
		}
	}
	if got := OpenSSLName("TLS_SOMETHING_NEW"); got != "TLS_SOMETHING_NEW" {
		t.Errorf("an unknown suite is named %q, want its own name", got)
	}
	if got := OpenSSLName(""); got != "" {
		t.Errorf("no suite is named %q", got)
	}
	if got := Bits(0xffff); got != 0 {
		t.Errorf("an unknown suite has %d bits, want 0", got)
	}
}
