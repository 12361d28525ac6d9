package testlib

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func verify(c tls.Certificate, roots *x509.CertPool, name string) error {
	_, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name})
	return err
}

func TestCAIssuesVerifiableCertificates(t *testing.T) {
	ca := NewCA(t)
	c := ca.Issue("mx.test", "127.0.0.1")
	for _, name := range []string{"mx.test", "127.0.0.1"} {
		if err := verify(c, ca.Pool(), name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := verify(c, ca.Pool(), "other.test"); err == nil {
		t.Error("verified for a name it was not issued for")
	}
	if err := verify(c, NewCA(t).Pool(), "mx.test"); err == nil {
		t.Error("verified against another CA")
	}
	if err := verify(SelfSigned(t, "mx.test"), ca.Pool(), "mx.test"); err == nil {
		t.Error("self-signed certificate verified against the CA")
	}
	pem, err := os.ReadFile(ca.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) || verify(c, pool, "mx.test") != nil {
		t.Error("CertFile does not hold the CA")
	}
}

func TestWriteKeyPairLoads(t *testing.T) {
	c := SelfSigned(t, "mx.test")
	certFile, keyFile := WriteKeyPair(t, c)
	got, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Leaf.Equal(c.Leaf) {
		t.Error("loaded a different certificate")
	}
}
