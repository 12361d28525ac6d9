package smtpd

import (
	"crypto/tls"
	"strings"
	"sync/atomic"

	"github.com/sluice-mta/sluice/internal/tlscipher"
)

// tlsVersionName names a TLS version as OpenSSL does ("TLSv1.3"), the form
// Postfix's {tls_version} milter macro and log lines give.
func tlsVersionName(v uint16) string {
	return strings.Replace(tls.VersionName(v), "TLS 1.", "TLSv1.", 1)
}

// setTLS records in info the TLS state cs of its connection: the
// protocol, the cipher suite by its IANA name (RFC 8314 §4.3's Received
// clause) and the key size of its cipher. info.TLS is the caller's: a
// connection's is set once, when it is made, since Shutdown reads it.
func setTLS(info *SessionInfo, cs tls.ConnectionState) {
	info.TLSVersion, info.TLSCipher = tlsVersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
	info.TLSCipherBits = tlscipher.Bits(cs.CipherSuite)
}

// serverTLS is a listener's TLS configuration. The certificate is looked up
// at each handshake rather than fixed in the tls.Config, so that a reload
// can hand a renewed certificate (same files, new content) to the next
// client without closing the socket or the sessions already under TLS, as
// "postfix reload" does, and so that the client's SNI picks among
// tls_certs.
func serverTLS(certs *atomic.Pointer[certSet]) *tls.Config {
	return &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return certs.Load().pick(hello), nil
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
