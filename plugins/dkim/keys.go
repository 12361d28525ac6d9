package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// The key types keygen makes.
const (
	KeyRSA     = "rsa"
	KeyEd25519 = "ed25519"
)

// rsaBits is the size of generated RSA keys: RFC 8301 §3.2 says signers
// SHOULD use at least 2048 bits.
const rsaBits = 2048

// minRSABits is the smallest RSA key we sign with (RFC 8301 §3.2: verifiers
// MUST NOT accept fewer than 1024 bits).
const minRSABits = 1024

// LoadKey reads a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA.
func LoadKey(path string) (crypto.Signer, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(b)
}

// maxKeyFile bounds what is read of a key file: an RSA key of 16384 bits
// is some 13 KB of PEM, and a path naming a device or a huge file by
// mistake (/dev/zero) must end in an error, not read forever.
const maxKeyFile = 1 << 20

// readKeyFile reads the key file at path, refusing one over maxKeyFile.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s: over %d bytes: not a key file", path, maxKeyFile)
	}
	return b, nil
}

// ParseKey parses a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA.
func ParseKey(pemBytes []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("no PEM block in key file")
	}
	var key any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q: want PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1)", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d needed (RFC 8301 §3.2)", k.N.BitLen(), minRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T: want RSA or Ed25519", key)
}

// GenerateKey makes a new key of kind KeyRSA (2048 bits) or KeyEd25519.
func GenerateKey(kind string) (crypto.Signer, error) {
	switch kind {
	case KeyRSA, "":
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case KeyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("key type %q: want rsa or ed25519", kind)
}

// TXTValue is the key record's text for signer's public key (RFC 6376
// §3.6.1): p= is the SubjectPublicKeyInfo for RSA and the bare 32-byte key
// for Ed25519 (RFC 8463 §4.2).
func TXTValue(signer crypto.Signer) (string, error) {
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("unsupported key type %T", signer.Public())
}

// TXTRecord is the zone-file line publishing signer's public key for
// selector and domain, the text split into strings of at most 255 octets
// (RFC 1035 §3.3.14; verifiers join them, RFC 6376 §3.6.2.2).
func TXTRecord(domain, selector string, signer crypto.Signer) (string, error) {
	v, err := TXTValue(signer)
	if err != nil {
		return "", err
	}
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	name := selector + "._domainkey." + strings.TrimSuffix(domain, ".") + "."
	return name + " IN TXT " + strings.Join(parts, " "), nil
}

// Keygen makes a key of kind for selector and domain, writes it to
// dir/SELECTOR.DOMAIN.key (PKCS#8 PEM, mode 0600, never over an existing
// file; dir is made, mode 0700, if it does not exist) and returns the file's path and the TXT record to publish.
func Keygen(domain, selector, kind, dir string) (path, record string, err error) {
	domain, err = keyDomain(domain, selector)
	if err != nil {
		return "", "", err
	}
	signer, err := GenerateKey(kind)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return "", "", err
	}
	if record, err = TXTRecord(domain, selector, signer); err != nil {
		return "", "", err
	}
	if dir == "" {
		dir = "."
	}
	// A keys directory that does not exist yet is made, private to us.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	path = keyFile(domain, selector, dir)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return "", "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", "", err
	}
	return path, record, nil
}
