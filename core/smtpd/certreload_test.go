package smtpd

import (
	"bytes"
	"crypto/tls"
	"os"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// servedCert does a TLS handshake with the implicit-TLS listener at addr
// and returns the leaf certificate it presented (DER), after checking the
// greeting, so the session is known to be served.
func servedCert(t *testing.T, addr string, clientTLS *tls.Config) []byte {
	t.Helper()
	d := dialTLSDirect(t, addr, clientTLS)
	d.cmd("QUIT", "221 2.0.0 Bye")
	return d.c.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw
}

// starttlsCert does STARTTLS on the listener and returns the leaf
// certificate presented (DER).
func starttlsCert(t *testing.T, h *harness, name string, clientTLS *tls.Config) []byte {
	t.Helper()
	d := h.dialTLS(name, clientTLS)
	d.ehlo()
	return d.c.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw
}

// copyFile overwrites dst with src's content, as a certificate renewal
// (certbot, acme.sh) leaves new content under the configured names.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A reload that leaves a listener as it was still reads its certificate
// files again: a renewed certificate under the same names is served to the
// next client, on implicit TLS and after STARTTLS alike, while a session
// already under TLS keeps its own. Before, the listener kept the
// certificate it was started with until a restart, and clients met an
// expired certificate although the renewal and the reload had both run.
// A certificate that no longer loads refuses the reload and the one in
// service stays.
func TestReloadRenewsCertificate(t *testing.T) {
	ca := testlib.NewCA(t)
	clientTLS := &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.test"}
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.test"))
	h := start(t, func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
		})
	})
	smtpsAddr := h.addr("smtps")
	first := servedCert(t, smtpsAddr, clientTLS)
	if got := starttlsCert(t, h, "mx", clientTLS); !bytes.Equal(got, first) {
		t.Fatal("STARTTLS and implicit TLS serve different certificates")
	}
	open := dialTLSDirect(t, smtpsAddr, clientTLS)

	// The renewal: a new certificate and key under the same names.
	newCert, newKey := testlib.WriteKeyPair(t, ca.Issue("mx.test"))
	copyFile(t, newCert, certFile)
	copyFile(t, newKey, keyFile)
	ch, err := h.srv.SetListeners(h.cfg.Listeners)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Added) != 0 || len(ch.Removed) != 0 {
		t.Fatalf("changes %+v: want the listeners kept", ch)
	}
	if h.addr("smtps") != smtpsAddr {
		t.Fatalf("listener rebound: %s, was %s", h.addr("smtps"), smtpsAddr)
	}
	second := servedCert(t, smtpsAddr, clientTLS)
	if bytes.Equal(second, first) {
		t.Fatal("implicit TLS: the certificate from before the reload is still served")
	}
	if got := starttlsCert(t, h, "mx", clientTLS); !bytes.Equal(got, second) {
		t.Fatal("STARTTLS: the renewed certificate is not served")
	}
	// The session opened before the reload goes on.
	open.cmd("NOOP", "250 2.0.0 I have successfully done nothing")

	// A key that does not match the certificate: the reload is refused,
	// the renewed certificate stays in service.
	_, otherKey := testlib.WriteKeyPair(t, ca.Issue("mx.test"))
	copyFile(t, otherKey, keyFile)
	if _, err := h.srv.SetListeners(h.cfg.Listeners); err == nil {
		t.Fatal("reload with a mismatched key: no error")
	}
	if got := servedCert(t, smtpsAddr, clientTLS); !bytes.Equal(got, second) {
		t.Fatal("a refused reload changed the certificate served")
	}
}
