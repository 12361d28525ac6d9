package dkim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// checkKeySize applies RFC 8301 §3.2 to the key a signature was verified
// with: verifiers MUST NOT consider signatures using RSA keys of less than
// 1024 bits valid, and such a key is the key's fault, a permerror, whatever
// the signature. go-msgauth measures the modulus in whole octets, so a
// 1020-bit key counts as 1024 and passes; Go's crypto/rsa refusing it
// instead (GODEBUG rsa1024min, which an operator can turn off) only makes
// it a fail. reason is "" when the key is acceptable or not known.
func checkKeySize(v *msgdkim.Verification, selector string, keys *keyRecords) (reason string) {
	rec, ok := keys.get(selector + "._domainkey." + v.Domain)
	if !ok {
		return ""
	}
	tags := parseTags(rec)
	if k := tags.get("k"); k != "" && k != "rsa" {
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(tags.get("p"))
	if err != nil {
		return ""
	}
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		pub, _ = k.(*rsa.PublicKey)
	} else if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		// RFC 6376 Erratum 3017: some records hold an RSAPublicKey, and
		// go-msgauth accepts those too.
		pub = k
	}
	if pub == nil || pub.N.BitLen() >= minRSABits {
		return ""
	}
	return fmt.Sprintf("RSA key of %d bits: at least %d needed (RFC 8301 §3.2)", pub.N.BitLen(), minRSABits)
}
