package smtp_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// withTLS gives the server a fresh self-signed certificate for localhost
// and returns a client config that trusts it.
func withTLS(t *testing.T) (serverConfigureFunc, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return func(s *smtp.Server) { s.TLSConfig = server }, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// RFC 3207 §4.2: once 220 is sent, a failed handshake closes the
// connection with nothing more written; v0.25.1 wrote a plaintext 550 and
// went on with the session and its open transaction in the clear.
func TestServerStartTLSHandshakeFailure(t *testing.T) {
	tlsOpt, _ := withTLS(t)
	be, _, rc := dialRaw(t, tlsOpt)
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	rc.send("garbage-not-tls\r\n")
	rc.expectClosed()
	if len(be.messages)+len(be.anonmsgs) != 0 {
		t.Fatal("a message went through")
	}
}

// StartTLSFailed hears of a failed handshake on its own connection, once,
// with the handshake's error, before the connection is closed; a
// successful handshake is not reported.
func TestServerStartTLSFailedHook(t *testing.T) {
	tlsOpt, clientTLS := withTLS(t)
	type failure struct {
		peer   string
		err    error
		closed bool // the socket was closed when the hook ran
	}
	failed := make(chan failure, 2)
	hook := func(s *smtp.Server) {
		s.StartTLSFailed = func(c *smtp.Conn, err error) {
			// A write, even of nothing, fails on a closed socket.
			_, werr := c.Conn().Write(nil)
			failed <- failure{c.Conn().RemoteAddr().String(), err, werr != nil}
		}
	}
	_, _, rc := dialRaw(t, tlsOpt, hook)
	rc.ehlo()
	rc.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	rc.send("garbage-not-tls\r\n")
	rc.expectClosed()
	select {
	case f := <-failed:
		if f.peer != rc.c.LocalAddr().String() || f.err == nil || f.closed {
			t.Fatalf("StartTLSFailed got %+v, want the client %v, an error, the connection open", f, rc.c.LocalAddr())
		}
	default:
		t.Fatal("StartTLSFailed not called")
	}

	_, _, rc = dialRaw(t, tlsOpt, hook)
	rc.ehlo()
	rc.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(rc.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	rc = newRawClient(t, tc)
	rc.ehlo()
	rc.cmd("QUIT", "221 2.0.0 Bye")
	select {
	case f := <-failed:
		t.Fatalf("StartTLSFailed called after a handshake that succeeded: %+v", f)
	default:
	}
}

// A client that says STARTTLS and then nothing is dropped once the read
// timeout has passed since the 220, silently: one timeout, not the rest of
// the STARTTLS line's and then another for the next command.
func TestServerStartTLSHandshakeTimeout(t *testing.T) {
	tlsOpt, _ := withTLS(t)
	const timeout = 300 * time.Millisecond
	_, _, rc := dialRaw(t, tlsOpt, readTimeout(timeout))
	rc.ehlo()
	rc.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	start := time.Now()
	rc.expectClosed()
	// Generous against a loaded machine; v0.25.1 took two timeouts and
	// wrote a 550 first.
	if took := time.Since(start); took >= 2*timeout+time.Second {
		t.Fatalf("closed %v after the 220; the timeout is %v", took, timeout)
	}
}

// A successful handshake starts a new session over TLS, whose commands
// are read with the usual timeouts: the handshake's deadline does not
// outlive it.
func TestServerStartTLS(t *testing.T) {
	tlsOpt, clientTLS := withTLS(t)
	be, _, rc := dialRaw(t, tlsOpt, readTimeout(5*time.Second), func(s *smtp.Server) { s.WriteTimeout = 5 * time.Second })
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(rc.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	rc = newRawClient(t, tc)
	// RFC 3207 §4.2: the state is discarded; the client starts over.
	rc.cmd("MAIL FROM:<a@example.net>", "503 5.5.1 Please introduce yourself first.")
	rc.ehlo()
	rc.cmd("STARTTLS", "503 5.5.1 Already running in TLS")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	rc.send("Subject: x\r\n\r\nhi\r\n.\r\n")
	rc.expect("250 2.0.0 OK: queued")
	if len(be.anonmsgs) != 1 || len(be.anonmsgs[0].To) != 1 {
		t.Fatalf("messages %v", be.anonmsgs)
	}
}

// RFC 3207 §4: STARTTLS takes no parameter (501), and a longer verb that
// begins with STARTTLS is another, unknown, command (500). v0.25.1 took
// both for STARTTLS.
func TestServerStartTLSSyntax(t *testing.T) {
	tlsOpt, _ := withTLS(t)
	_, _, rc := dialRaw(t, tlsOpt)
	rc.ehlo()
	rc.cmd("STARTTLSXYZ", "500 5.5.2 Syntax errors, STARTTLSXYZ command unrecognized")
	rc.cmd("STARTTLS foo", "501 5.5.4 Syntax: STARTTLS")
	rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	// Trailing white space is no parameter (RFC 5321 §4.1.1).
	rc.cmd("starttls ", "220 2.0.0 Ready to start TLS")
}

func newRawClient(t *testing.T, c net.Conn) *rawClient {
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}
