package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// testCert writes a certificate for mx.test from a fresh test CA and returns
// its files and a client config that trusts the CA.
func testCert(t testing.TB) (certFile, keyFile string, client *tls.Config) {
	t.Helper()
	ca := testlib.NewCA(t)
	certFile, keyFile = testlib.WriteKeyPair(t, ca.Issue("mx.test"))
	return certFile, keyFile, &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.test"}
}

func TestSTARTTLS(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	p := &tlsPolicy{}
	h := start(t, func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
		o.Policy = p
	})
	d := h.dial()
	d.send("EHLO client.test")
	d.expect(
		"250-mx.test Hello client.test",
		"250-PIPELINING",
		"250-8BITMIME",
		"250-ENHANCEDSTATUSCODES",
		"250-CHUNKING",
		"250-STARTTLS",
		"250-SMTPUTF8",
		"250-DSN",
		"250-SIZE 4096",
		"250 LIMITS RCPTMAX=3 MAILMAX=100",
	)
	d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(d.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = newDialog(t, tc)
	// RFC 3207 §4.2: the client starts over; STARTTLS is not offered again.
	d.send("EHLO client.test")
	d.expect(
		"250-mx.test Hello client.test",
		"250-PIPELINING",
		"250-8BITMIME",
		"250-ENHANCEDSTATUSCODES",
		"250-CHUNKING",
		"250-SMTPUTF8",
		"250-REQUIRETLS", // RFC 8689 §2: only under TLS
		"250-DSN",
		"250-SIZE 4096",
		"250 LIMITS RCPTMAX=3 MAILMAX=100",
	)
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: secret\r\n\r\n.\r\n")
	id := d.queued()
	_, body := h.only()
	if want := "with ESMTPS id " + id; !strings.Contains(string(body), want) {
		t.Errorf("Received lacks %q:\n%s", want, body)
	}
	// RFC 8314 §4.3: the cipher suite in Received; the policy (and so the
	// plugins' Session.tls_version and milters' {tls_version}) knows both.
	cs := tc.ConnectionState()
	if want := "\r\n\ttls " + tls.CipherSuiteName(cs.CipherSuite) + "; "; !strings.Contains(string(body), want) {
		t.Errorf("Received lacks %q:\n%s", want, body)
	}
	if want := []string{"helo tls=false", "helo tls=true TLSv1.3 " + tls.CipherSuiteName(cs.CipherSuite)}; strings.Join(p.helos(), "|") != strings.Join(want, "|") {
		t.Errorf("the policy saw %q, want %q", p.helos(), want)
	}
}

// tlsPolicy records the TLS state each Helo is shown.
type tlsPolicy struct {
	AllowAll
	mu   sync.Mutex
	seen []string
}

func (p *tlsPolicy) Helo(_ context.Context, s *SessionInfo) *reply.Reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, strings.TrimSpace(fmt.Sprintf("helo tls=%v %s %s", s.TLS, s.TLSVersion, s.TLSCipher)))
	return nil
}

func (p *tlsPolicy) helos() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// Kind "submissions" is TLS from the first byte (RFC 8314 §3.3).
func TestImplicitTLS(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
		})
	}, withUsers(t, map[string]string{"a@example.org": "pw"}))
	tc, err := tls.Dial("tcp", h.addr("smtps"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	d := newDialog(t, tc)
	d.expect("220 mx.test ESMTP")
	d.send("EHLO client.test")
	d.expect(
		"250-mx.test Hello client.test",
		"250-PIPELINING",
		"250-8BITMIME",
		"250-ENHANCEDSTATUSCODES",
		"250-CHUNKING",
		"250-AUTH PLAIN LOGIN",
		"250-SMTPUTF8",
		"250-REQUIRETLS", // RFC 8689 §2: only under TLS
		"250-DSN",
		"250-SIZE 4096",
		"250 LIMITS RCPTMAX=3 MAILMAX=100",
	)
	d.cmd("STARTTLS", "503 5.5.1 Already running in TLS")
	d.authPlain("a@example.org", "pw", "235 2.7.0 Authentication succeeded")
	d.envelope("b@example.org")
	d.send("BDAT 12 LAST")
	d.raw("Subject: x\r\n")
	d.expect("250 2.0.0 Ok: queued as *")
	m, body := h.only()
	if m.Listener != "smtps" || !strings.Contains(string(body), "with ESMTPSA id "+m.ID) {
		t.Errorf("listener %q, body:\n%s", m.Listener, body)
	}
}

func TestNewBadCertificate(t *testing.T) {
	cfg, err := config.Parse("x.toml", []byte(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listeners[0].TLSCert, cfg.Listeners[0].TLSKey = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	if _, err := New(Options{Config: cfg, Queue: &recQueue{}}); err == nil || !strings.Contains(err.Error(), "listener mx") {
		t.Errorf("New with a missing certificate: %v", err)
	}
}

// RFC 3207 §4.2: once 220 is sent, a failed handshake ends the connection
// with nothing more written; the transaction opened before STARTTLS is
// gone with it (Sluice's go-smtp used to answer 550 in the clear and take
// DATA for it).
func TestSTARTTLSHandshakeFailure(t *testing.T) {
	tlsOpt, _ := withSTARTTLS(t)
	h := start(t, tlsOpt)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	d.send("garbage-not-tls")
	d.expectClosed()
	if n := len(h.messages()); n != 0 {
		t.Fatalf("%d messages queued", n)
	}
	waitLog(t, h, `level=INFO msg="TLS handshake failed"`)
	// The server is fine: the next client is served.
	d = h.dial()
	d.ehlo()
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
}

// A plaintext client on the implicit-TLS port fails the handshake: the
// connection closes with nothing written, and the log says so at info
// (it was at debug only).
func TestImplicitTLSPlaintextClient(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	h := start(t, func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
		})
	}, withUsers(t, map[string]string{"a@example.org": "pw"}))
	d := dialConn(t, h.addr("smtps"))
	d.send("EHLO client.test")
	d.expectClosed()
	waitLog(t, h, `level=INFO msg="TLS handshake failed"`)
}

// waitLog waits for the server's log to hold want (the handshake's error
// is logged after the connection closes).
func waitLog(t *testing.T, h *harness, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !strings.Contains(h.logs.String(), want) {
		select {
		case <-h.logs.wrote:
		case <-timeout:
			t.Fatalf("log lacks %q:\n%s", want, h.logs.String())
		}
	}
}
