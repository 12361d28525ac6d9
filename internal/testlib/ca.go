package testlib

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test: it issues server
// certificates that a client trusting its Pool verifies, and that a client
// trusting another CA (or the system roots) rejects. Keys are ECDSA P-256;
// certificates are valid from an hour ago to an hour from now.
type CA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// chain is what a server sends above its own certificate: the
	// intermediates up to the root, left out (Intermediate).
	chain [][]byte
}

// NewCA makes a fresh CA. Two CAs share a subject name, so a certificate
// from one fails verification against the other's pool on its signature.
func NewCA(t testing.TB) *CA {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Sluice test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	c := create(t, tmpl, nil, nil)
	return &CA{t: t, cert: c.Leaf, key: c.PrivateKey.(*ecdsa.PrivateKey)}
}

// Issue returns a server certificate signed by the CA for names, each a DNS
// name or an IP address; the first is also the subject's common name. An
// Intermediate's certificate comes with the intermediates in its chain.
func (ca *CA) Issue(names ...string) tls.Certificate {
	ca.t.Helper()
	c := create(ca.t, leafTemplate(names), ca.cert, ca.key)
	c.Certificate = append(c.Certificate, ca.chain...)
	return c
}

// IssueExpired is Issue for a certificate that expired an hour ago.
func (ca *CA) IssueExpired(names ...string) tls.Certificate {
	ca.t.Helper()
	tmpl := leafTemplate(names)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	c := create(ca.t, tmpl, ca.cert, ca.key)
	c.Certificate = append(c.Certificate, ca.chain...)
	return c
}

// Intermediate returns a CA whose certificate ca signs: what it issues
// verifies against ca's Pool once the intermediate is sent along, which
// Issue's chain does.
func (ca *CA) Intermediate() *CA {
	ca.t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Sluice test intermediate CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	c := create(ca.t, tmpl, ca.cert, ca.key)
	return &CA{t: ca.t, cert: c.Leaf, key: c.PrivateKey.(*ecdsa.PrivateKey), chain: append([][]byte{c.Leaf.Raw}, ca.chain...)}
}

// ServerConfig returns a server TLS config holding Issue(names...).
func (ca *CA) ServerConfig(names ...string) *tls.Config {
	ca.t.Helper()
	return &tls.Config{Certificates: []tls.Certificate{ca.Issue(names...)}}
}

// Pool returns a new certificate pool holding only the CA, for clients.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// CertFile writes the CA certificate as PEM to a temp dir and returns its
// path, for configurations that name a CA file.
func (ca *CA) CertFile() string {
	ca.t.Helper()
	p := filepath.Join(ca.t.TempDir(), "ca.pem")
	writePEM(ca.t, p, "CERTIFICATE", ca.cert.Raw)
	return p
}

// SelfSigned returns a server certificate for names (as in Issue) that is
// its own issuer and no CA: nothing verifies it, for tests of unverified
// (opportunistic) TLS.
func SelfSigned(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	return create(t, leafTemplate(names), nil, nil)
}

// WriteKeyPair writes c's chain and private key (PKCS #8) as PEM files in a
// temp dir and returns their paths, for a listener's tls_cert and tls_key.
func WriteKeyPair(t testing.TB, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

// leafTemplate is a server certificate for names, sorted into DNS names and
// IP addresses.
func leafTemplate(names []string) *x509.Certificate {
	tmpl := &x509.Certificate{
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(names) > 0 {
		tmpl.Subject.CommonName = names[0]
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return tmpl
}

// create signs tmpl for a fresh key with parent's key, or self-signs it when
// parent is nil, and returns the certificate with its key and parsed leaf.
// It is valid from an hour ago to an hour from now unless tmpl says.
func create(t testing.TB, tmpl, parent *x509.Certificate, parentKey crypto.Signer) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		t.Fatal(err)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
