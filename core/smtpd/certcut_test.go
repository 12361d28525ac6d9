package smtpd

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// servedChain returns the chain the implicit-TLS listener at addr
// presents to a client sending name as SNI, unverified: the test counts
// it.
func servedChain(t *testing.T, addr, name string) [][]byte {
	t.Helper()
	d := dialTLSDirect(t, addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	d.cmd("QUIT", "221 2.0.0 Bye")
	var out [][]byte
	for _, c := range d.c.(*tls.Conn).ConnectionState().PeerCertificates {
		out = append(out, c.Raw)
	}
	return out
}

// cutInSecondBlock writes src's chain to dst cut short in the middle of
// its second PEM block, as a reload finds a renewal being copied in
// place (cp truncates, then writes).
func cutInSecondBlock(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.Index(b, []byte("-----BEGIN CERTIFICATE-----"))
	second := bytes.Index(b[first+1:], []byte("-----BEGIN CERTIFICATE-----"))
	if first < 0 || second < 0 {
		t.Fatalf("%s holds no chain", src)
	}
	if err := os.WriteFile(dst, b[:first+1+second+100], 0o600); err != nil {
		t.Fatal(err)
	}
}

// A certificate file holding a PEM block that does not end refuses the
// reload, tls_cert's as a tls_certs pair's, and the chain in service
// stays: it is a chain file being written as the reload read it. Before,
// the certificate loaded without the intermediates after the cut, and
// clients that verify (MTA-STS, RFC 8461 §4.2) failed on it until the
// next reload. check-config refuses it too, at the file's line.
func TestReloadRefusesCutCertificateChain(t *testing.T) {
	ca := testlib.NewCA(t).Intermediate()
	defFiles := pairFiles(t, ca, "mx.test")
	aFiles := pairFiles(t, ca, "mail.a.example")
	h := start(t, func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions,
			TLSCert: defFiles.Cert, TLSKey: defFiles.Key, TLSCerts: []config.CertPair{aFiles},
		})
	})
	addr := h.addr("smtps")
	for _, name := range []string{"mx.test", "mail.a.example"} {
		if n := len(servedChain(t, addr, name)); n != 2 {
			t.Fatalf("%s: %d certificates served, want the leaf and the intermediate", name, n)
		}
	}

	for _, tc := range []struct {
		name  string
		files config.CertPair
	}{{"mx.test", defFiles}, {"mail.a.example", aFiles}} {
		renewed := pairFiles(t, ca, tc.name)
		keep, err := os.ReadFile(tc.files.Cert)
		if err != nil {
			t.Fatal(err)
		}
		cutInSecondBlock(t, renewed.Cert, tc.files.Cert)
		copyFile(t, renewed.Key, tc.files.Key)
		_, err = h.srv.SetListeners(h.cfg.Listeners)
		if err == nil || !strings.Contains(err.Error(), "does not end") {
			t.Errorf("%s: reload with a chain cut short: %v, want it refused", tc.name, err)
		}
		if err := CheckCerts(h.cfg); err == nil || !strings.Contains(err.Error(), "does not end") {
			t.Errorf("%s: check-config: %v, want the cut chain reported", tc.name, err)
		}
		if got := servedChain(t, addr, tc.name); len(got) != 2 || !bytes.Equal(got[0], pemLeaf(t, keep)) {
			t.Errorf("%s: after the refused reload, %d certificates served, or another leaf: want the chain in service", tc.name, len(got))
		}
		// The copy finished: the next reload serves the renewal whole.
		copyFile(t, renewed.Cert, tc.files.Cert)
		if _, err := h.srv.SetListeners(h.cfg.Listeners); err != nil {
			t.Fatal(err)
		}
		if n := len(servedChain(t, addr, tc.name)); n != 2 {
			t.Errorf("%s: renewal served with %d certificates, want 2", tc.name, n)
		}
	}
}

// pairFiles writes a certificate for name issued by ca, with ca's chain,
// and its key.
func pairFiles(t *testing.T, ca *testlib.CA, name string) config.CertPair {
	t.Helper()
	cert, key := testlib.WriteKeyPair(t, ca.Issue(name))
	return config.CertPair{Cert: cert, Key: key}
}

// pemLeaf is the first certificate of a PEM chain, DER.
func pemLeaf(t *testing.T, chain []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(chain)
	if b == nil {
		t.Fatal("no certificate in the chain")
	}
	return b.Bytes
}
