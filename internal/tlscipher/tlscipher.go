// Package tlscipher says of a TLS cipher suite what Postfix says of it:
// its OpenSSL name, which Postfix logs and gives milters ({cipher}) and
// policy servers (encryption_cipher), and the key size of its cipher in
// bits ({cipher_bits}, encryption_keysize). Go names a suite by its IANA
// name (tls.CipherSuiteName), as RFC 8314 §4.3's Received clause does;
// for TLS 1.3 suites the two names are the same.
package tlscipher

import "crypto/tls"

// suite is what OpenSSL says of a cipher suite: its name and the
// strength of its cipher in bits (SSL_CIPHER_get_bits, Postfix's
// cipher_usebits; 112 for triple DES's 168-bit key).
type suite struct {
	openssl string
	bits    int
}

// suites holds every suite crypto/tls implements, secure or not (a
// server may be configured with the insecure ones).
var suites = map[uint16]suite{
	tls.TLS_AES_128_GCM_SHA256:       {"TLS_AES_128_GCM_SHA256", 128},
	tls.TLS_AES_256_GCM_SHA384:       {"TLS_AES_256_GCM_SHA384", 256},
	tls.TLS_CHACHA20_POLY1305_SHA256: {"TLS_CHACHA20_POLY1305_SHA256", 256},

	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       {"ECDHE-ECDSA-AES128-GCM-SHA256", 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       {"ECDHE-ECDSA-AES256-GCM-SHA384", 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         {"ECDHE-RSA-AES128-GCM-SHA256", 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         {"ECDHE-RSA-AES256-GCM-SHA384", 256},
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: {"ECDHE-ECDSA-CHACHA20-POLY1305", 256},
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   {"ECDHE-RSA-CHACHA20-POLY1305", 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          {"ECDHE-ECDSA-AES128-SHA", 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          {"ECDHE-ECDSA-AES256-SHA", 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            {"ECDHE-RSA-AES128-SHA", 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            {"ECDHE-RSA-AES256-SHA", 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       {"ECDHE-ECDSA-AES128-SHA256", 128},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         {"ECDHE-RSA-AES128-SHA256", 128},
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           {"ECDHE-RSA-DES-CBC3-SHA", 112},
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              {"ECDHE-ECDSA-RC4-SHA", 128},
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                {"ECDHE-RSA-RC4-SHA", 128},

	tls.TLS_RSA_WITH_AES_128_GCM_SHA256: {"AES128-GCM-SHA256", 128},
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384: {"AES256-GCM-SHA384", 256},
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:    {"AES128-SHA", 128},
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:    {"AES256-SHA", 256},
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256: {"AES128-SHA256", 128},
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:   {"DES-CBC3-SHA", 112},
	tls.TLS_RSA_WITH_RC4_128_SHA:        {"RC4-SHA", 128},
}

// byIANA maps a suite's IANA name to its entry in suites.
var byIANA = func() map[string]suite {
	m := make(map[string]suite, len(suites))
	for id, s := range suites {
		m[tls.CipherSuiteName(id)] = s
	}
	return m
}()

// Bits is the key size in bits of suite id's cipher, as OpenSSL counts
// it (128 for AES-128, 256 for AES-256 and ChaCha20); 0 for a suite it
// does not know.
func Bits(id uint16) int { return suites[id].bits }

// OpenSSLName is the OpenSSL name of the suite Go names iana
// ("ECDHE-RSA-AES128-GCM-SHA256" for
// "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"); iana itself for a suite it
// does not know, and "" for "".
func OpenSSLName(iana string) string {
	if s, ok := byIANA[iana]; ok {
		return s.openssl
	}
	return iana
}
