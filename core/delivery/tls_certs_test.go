package delivery

import (
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
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// An expired certificate: opportunistic TLS delivers over it, as
// Postfix's "may" does, while a tls=verify route defers with the reason.
func TestExpiredCertificate(t *testing.T) {
	now := time.Now()
	caKey, caCert := expiringCert(t, nil, nil, now.Add(time.Hour))
	leafKey, leaf := expiringCert(t, caCert, caKey, now.Add(-time.Hour), "127.0.0.1")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	srvTLS := func() *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey}}}
	}
	may := startSink(t, "127.0.0.1:0", sinkOptions{tls: srvTLS()})
	must := startSink(t, "127.0.0.1:0", sinkOptions{tls: srvTLS()})
	h := newHarness(t)
	h.start()
	id := h.enqueue(withRoutes("s@origin.test",
		"may@dest.test", "smtp:"+may.addr,
		"must@dest.test", "smtp:"+must.addr+"?tls=verify&ca="+caFile))
	if got := waitMsg(t, may); !got.tls {
		t.Error("opportunistic: delivered without TLS")
	}
	r := rcpt(h.recorded(id), "must@dest.test")
	if r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "x509: certificate has expired") {
		t.Errorf("tls=verify: %+v, want deferred for the expired certificate", r)
	}
	if n := len(must.messages()); n != 0 {
		t.Errorf("tls=verify: %d messages sent", n)
	}
}

// A server with only TLS 1.0 and 1.1 (RFC 8996 deprecates both) fails
// the handshake: opportunistic TLS sends the mail in plaintext.
func TestServerWithOnlyOldTLS(t *testing.T) {
	key, cert := expiringCert(t, nil, nil, time.Now().Add(time.Hour), "sink.test")
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); got.tls {
		t.Error("delivered over TLS older than 1.2")
	}
	if n := s.connections(); n != 2 {
		t.Errorf("%d connections, want 2 (the failed handshake, then plaintext)", n)
	}
}

// expiringCert makes a certificate valid until notAfter: a CA when names
// is empty (self-signed when parent is nil), else a server certificate
// for names (DNS names or IP addresses) signed by parent.
func expiringCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notAfter time.Time, names ...string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	if len(names) == 0 {
		tmpl.Subject = pkix.Name{CommonName: "Test CA"}
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		tmpl.Subject = pkix.Name{CommonName: names[0]}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c
}
