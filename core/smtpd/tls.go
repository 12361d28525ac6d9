package smtpd

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/sluice-mta/sluice/core/config"
)

// loadCert reads a listener's certificate and key (paths relative to the
// config file).
func loadCert(c *config.Config, l config.Listener) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.Resolve(l.TLSCert), c.Resolve(l.TLSKey))
	if err != nil {
		return nil, fmt.Errorf("smtpd: listener %s: %w", l.Name, err)
	}
	return &cert, nil
}

// tlsVersionName names a TLS version as OpenSSL does ("TLSv1.3"), the form
// Postfix's {tls_version} milter macro and log lines give.
func tlsVersionName(v uint16) string {
	return strings.Replace(tls.VersionName(v), "TLS 1.", "TLSv1.", 1)
}

// serverTLS is a listener's TLS configuration. The certificate is looked up
// at each handshake rather than fixed in the tls.Config, so that a reload
// can hand a renewed certificate (same files, new content) to the next
// client without closing the socket or the sessions already under TLS, as
// "postfix reload" does.
func serverTLS(cert *atomic.Pointer[tls.Certificate]) *tls.Config {
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cert.Load(), nil
		},
		// From the client's hello on, the stream is TLS records: the
		// connection is marked so that its shutdown notice is never
		// written in the clear, also between STARTTLS and the next EHLO,
		// before any session knows of TLS.
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if c, ok := hello.Conn.(*conn); ok {
				c.encrypted()
			}
			return nil, nil
		},
		MinVersion: tls.VersionTLS12, // RFC 8996, RFC 8314 §4.1
	}
}
