package smtpd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Listeners speak TLS 1.2 and 1.3 only (RFC 8996): a TLS 1.0 or 1.1
// client fails the handshake and the log says why.
func TestListenerTLSVersions(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		d := h.dial()
		d.ehlo()
		d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
		c := clientTLS.Clone()
		c.MinVersion, c.MaxVersion = v, v
		err := tls.Client(d.c, c).Handshake()
		if old := v < tls.VersionTLS12; old != (err != nil) {
			t.Errorf("%s: handshake error %v", tls.VersionName(v), err)
		}
	}
	waitLog(t, h, "client offered only unsupported versions")
}

// A tls_cert holding the certificate and then its intermediate sends
// both: a client that trusts only the root verifies the chain.
func TestListenerSendsIntermediates(t *testing.T) {
	root, rootKey := testIssuer(t, nil, nil, "Test root")
	inter, interKey := testIssuer(t, root, rootKey, "Test intermediate")
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := testSign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "mx.test"},
		DNSNames:    []string{"mx.test"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, inter, interKey, leafKey)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
	})
	pool := x509.NewCertPool()
	pool.AddCert(root)
	d := h.dialTLS("mx", &tls.Config{RootCAs: pool, ServerName: "mx.test"})
	if n := len(d.c.(*tls.Conn).ConnectionState().PeerCertificates); n != 2 {
		t.Fatalf("%d certificates sent, want the certificate and its intermediate", n)
	}
	d.ehlo()
}

// testIssuer makes a CA certificate, self-signed when parent is nil.
func testIssuer(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	return testSign(t, tmpl, parent, parentKey, key), key
}

// testSign issues tmpl for key's public half, signed by parent, valid for
// an hour either side of now.
func testSign(t *testing.T, tmpl, parent *x509.Certificate, parentKey, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
