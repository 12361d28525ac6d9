package dkim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// maxRSABits is the largest RSA key a signature is verified with, DKIM's
// and ARC's alike. RFC 8301 §3.2 has verifiers validate keys of 1024 to
// 4096 bits, and larger ones only if they may. The sender chooses the
// key: at 16384 bits one verification costs some 6 ms of a core, against
// some 0.3 ms at 4096, so that a message of max_signatures signatures
// (or an ARC chain of 50 sets, 100 verifications) with such keys would
// cost the receiver up to half a second.
const maxRSABits = 4096

// revokedKey stands, for go-msgauth, in place of a key record whose RSA
// key is over maxRSABits: an empty p= is a revoked key (RFC 6376 §3.6.1),
// a permanent failure found without any RSA arithmetic. checkKeySize then
// gives the result its real reason.
const revokedKey = "v=DKIM1; p="

// rsaKeyOf returns the RSA public key of a DKIM key record, or nil when
// the record holds none (another k=, no usable p=).
func rsaKeyOf(tags tagList) *rsa.PublicKey {
	if k := tags.get("k"); k != "" && k != "rsa" {
		return nil
	}
	der, err := base64.StdEncoding.DecodeString(tags.get("p"))
	if err != nil || len(der) == 0 {
		return nil
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		pub, _ := k.(*rsa.PublicKey)
		return pub
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		// RFC 6376 Erratum 3017: some records hold an RSAPublicKey, and
		// go-msgauth accepts those too.
		return k
	}
	return nil
}

// rsaSizeError says why an RSA key's size is not acceptable, or "".
func rsaSizeError(pub *rsa.PublicKey) string {
	switch n := pub.N.BitLen(); {
	case n < minRSABits:
		return fmt.Sprintf("RSA key of %d bits: at least %d needed (RFC 8301 §3.2)", n, minRSABits)
	case n > maxRSABits:
		return fmt.Sprintf("RSA key of %d bits: keys of more than %d are not verified (RFC 8301 §3.2)", n, maxRSABits)
	}
	return ""
}

// tooLarge reports whether a key record holds an RSA key over maxRSABits.
func tooLarge(txt string) bool {
	pub := rsaKeyOf(parseTags(txt))
	return pub != nil && pub.N.BitLen() > maxRSABits
}

// checkKeySize applies RFC 8301 §3.2 to the key a signature was verified
// with: verifiers MUST NOT consider signatures using RSA keys of less than
// 1024 bits valid, and such a key is the key's fault, a permerror, whatever
// the signature. go-msgauth measures the modulus in whole octets, so a
// 1020-bit key counts as 1024 and passes; Go's crypto/rsa refusing it
// instead (GODEBUG rsa1024min, which an operator can turn off) only makes
// it a fail. A key over maxRSABits was never handed to go-msgauth (see
// revokedKey) and is a permerror too. reason is "" when the key is
// acceptable or not known.
func checkKeySize(v *msgdkim.Verification, selector string, keys *keyRecords) (reason string) {
	rec, ok := keys.get(selector + "._domainkey." + v.Domain)
	if !ok {
		return ""
	}
	pub := rsaKeyOf(parseTags(rec))
	if pub == nil {
		return ""
	}
	return rsaSizeError(pub)
}
