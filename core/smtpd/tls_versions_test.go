package smtpd

import (
	"crypto/tls"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
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
	root := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, root.Intermediate().Issue("mx.test"))
	h := start(t, func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
	})
	d := h.dialTLS("mx", &tls.Config{RootCAs: root.Pool(), ServerName: "mx.test"})
	if n := len(d.c.(*tls.Conn).ConnectionState().PeerCertificates); n != 2 {
		t.Fatalf("%d certificates sent, want the certificate and its intermediate", n)
	}
	d.ehlo()
}
