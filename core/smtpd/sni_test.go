package smtpd

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// sniCerts are the certificates of the SNI tests: tls_cert and the
// tls_certs pairs, each with its files.
type sniCerts struct {
	ca                           *testlib.CA
	defFiles, aFiles, bFiles     config.CertPair
	defLeaf, aLeaf, bLeaf, wLeaf []byte
	pairs                        []config.CertPair
}

// clientTLS is a client that sends name as SNI and verifies the
// certificate for it.
func (s *sniCerts) clientTLS(name string) *tls.Config {
	return &tls.Config{RootCAs: s.ca.Pool(), ServerName: name}
}

// unverifiedTLS is a client that sends name as SNI, none when name is ""
// (a client dialling an IP address), and takes any certificate, which
// the test compares instead.
func (s *sniCerts) unverifiedTLS(name string) *tls.Config {
	return &tls.Config{ServerName: name, InsecureSkipVerify: true}
}

func issuePair(t *testing.T, ca *testlib.CA, name string) (tls.Certificate, config.CertPair) {
	t.Helper()
	c := ca.Issue(name)
	cert, key := testlib.WriteKeyPair(t, c)
	return c, config.CertPair{Cert: cert, Key: key}
}

// startSNI starts a server whose STARTTLS listener "mx" and implicit-TLS
// listener "smtps" both serve mx.test by default and, by SNI,
// mail.a.example, mail.b.example and *.w.example.
func startSNI(t *testing.T) (*harness, *sniCerts) {
	t.Helper()
	s := &sniCerts{ca: testlib.NewCA(t)}
	def, defFiles := issuePair(t, s.ca, "mx.test")
	a, aFiles := issuePair(t, s.ca, "mail.a.example")
	b, bFiles := issuePair(t, s.ca, "mail.b.example")
	w, wFiles := issuePair(t, s.ca, "*.w.example")
	s.defFiles, s.aFiles, s.bFiles = defFiles, aFiles, bFiles
	s.defLeaf, s.aLeaf, s.bLeaf, s.wLeaf = def.Certificate[0], a.Certificate[0], b.Certificate[0], w.Certificate[0]
	s.pairs = []config.CertPair{aFiles, bFiles, wFiles}
	h := start(t, func(o *Options) {
		l := &o.Config.Listeners[0]
		l.TLSCert, l.TLSKey, l.TLSCerts = s.defFiles.Cert, s.defFiles.Key, s.pairs
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions,
			TLSCert: s.defFiles.Cert, TLSKey: s.defFiles.Key, TLSCerts: s.pairs,
		})
	})
	return h, s
}

// served returns the leaf the listener presents to clientTLS, on
// implicit TLS or after STARTTLS.
func served(t *testing.T, h *harness, implicit bool, clientTLS *tls.Config) []byte {
	t.Helper()
	if implicit {
		return servedCert(t, h.addr("smtps"), clientTLS)
	}
	return starttlsCert(t, h, "mx", clientTLS)
}

// A client that sends SNI gets the tls_certs certificate for that name,
// matched as crypto/tls matches it: without case, with a client's
// trailing dot dropped, a wildcard covering one label. A client that
// sends none, or a name no pair has, gets tls_cert. So on implicit TLS
// and after STARTTLS alike. Before tls_certs, every client got tls_cert,
// and a client checking mail.a.example failed verification.
func TestSNISelectsCertificate(t *testing.T) {
	h, s := startSNI(t)
	for _, implicit := range []bool{false, true} {
		for _, tc := range []struct {
			name   string
			client *tls.Config
			want   []byte
		}{
			{"SNI a", s.clientTLS("mail.a.example"), s.aLeaf},
			{"SNI b", s.clientTLS("mail.b.example"), s.bLeaf},
			{"SNI b in capitals, trailing dot", s.clientTLS("MAIL.B.Example."), s.bLeaf},
			{"wildcard", s.clientTLS("smtp.w.example"), s.wLeaf},
			{"tls_cert's name", s.clientTLS("mx.test"), s.defLeaf},
			{"no SNI", s.unverifiedTLS(""), s.defLeaf},
			{"unknown SNI", s.unverifiedTLS("mail.c.example"), s.defLeaf},
			{"two labels under the wildcard", s.unverifiedTLS("a.b.w.example"), s.defLeaf},
		} {
			if got := served(t, h, implicit, tc.client); !bytes.Equal(got, tc.want) {
				t.Errorf("implicit TLS %v, %s: served %s", implicit, tc.name, leafNames(t, got))
			}
		}
	}
}

// leafNames names a served leaf by its DNS names, for a failure message.
func leafNames(t *testing.T, der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(c.DNSNames, ",")
}

// A reload reads the tls_certs files again, as it reads tls_cert's: a
// pair renewed under the same names is served to the next client that
// names it, the other pairs as they were, without a new socket. A pair
// added to the list is served from the reload on, the socket kept too.
func TestReloadRenewsSNICertificate(t *testing.T) {
	h, s := startSNI(t)
	smtpsAddr, mxAddr := h.addr("smtps"), h.addr("mx")
	if got := served(t, h, true, s.clientTLS("mail.b.example")); !bytes.Equal(got, s.bLeaf) {
		t.Fatal("before the reload: not b's certificate")
	}

	renewed := s.ca.Issue("mail.b.example")
	newCert, newKey := testlib.WriteKeyPair(t, renewed)
	copyFile(t, newCert, s.bFiles.Cert)
	copyFile(t, newKey, s.bFiles.Key)
	ch, err := h.srv.SetListeners(h.cfg.Listeners)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Added) != 0 || len(ch.Removed) != 0 {
		t.Fatalf("changes %+v: want the listeners kept", ch)
	}
	for _, implicit := range []bool{false, true} {
		if got := served(t, h, implicit, s.clientTLS("mail.b.example")); !bytes.Equal(got, renewed.Certificate[0]) {
			t.Errorf("implicit TLS %v: b's renewed certificate is not served", implicit)
		}
		if got := served(t, h, implicit, s.clientTLS("mail.a.example")); !bytes.Equal(got, s.aLeaf) {
			t.Errorf("implicit TLS %v: a's certificate changed", implicit)
		}
	}

	// A pair added to both listeners' lists.
	c, cFiles := issuePair(t, s.ca, "mail.c.example")
	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	for i := range lcs {
		lcs[i].TLSCerts = append(append([]config.CertPair(nil), s.pairs...), cFiles)
	}
	ch, err = h.srv.SetListeners(lcs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Added) != 0 || len(ch.Removed) != 0 || h.addr("smtps") != smtpsAddr || h.addr("mx") != mxAddr {
		t.Fatalf("changes %+v: want the listeners kept on their sockets", ch)
	}
	for _, implicit := range []bool{false, true} {
		if got := served(t, h, implicit, s.clientTLS("mail.c.example")); !bytes.Equal(got, c.Certificate[0]) {
			t.Errorf("implicit TLS %v: the added pair is not served", implicit)
		}
	}

	// A pair whose key no longer matches refuses the reload; the pairs
	// in service stay.
	_, otherKey := testlib.WriteKeyPair(t, s.ca.Issue("mail.a.example"))
	copyFile(t, otherKey, s.aFiles.Key)
	if _, err := h.srv.SetListeners(lcs); err == nil || !strings.Contains(err.Error(), "tls_certs cert") {
		t.Fatalf("reload with a mismatched tls_certs key: %v", err)
	}
	if got := served(t, h, true, s.clientTLS("mail.a.example")); !bytes.Equal(got, s.aLeaf) {
		t.Fatal("a refused reload changed the certificate served")
	}
}

// ed25519Pair writes a self-signed Ed25519 certificate for name, a key
// of another type than testlib's ECDSA ones.
func ed25519Pair(t *testing.T, name string) config.CertPair {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := testlib.WriteKeyPair(t, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv})
	return config.CertPair{Cert: cert, Key: key}
}

// check-config (CheckCerts) loads each tls_certs pair as the listener
// would and reports one that fails at its line: a key that is not the
// certificate's, a certificate without DNS names (SNI could never select
// it), a name a pair listed before already serves with a key of the same
// type. The same name with a key of another type (RSA and ECDSA, here
// Ed25519) is allowed, as is a wildcard after a name it covers. The
// server refuses to start on the same.
func TestCheckSNICertificates(t *testing.T) {
	ca := testlib.NewCA(t)
	_, def := issuePair(t, ca, "mx.test")
	_, a := issuePair(t, ca, "mail.a.example")
	_, a2 := issuePair(t, ca, "MAIL.A.example")
	_, b := issuePair(t, ca, "mail.b.example")
	_, w := issuePair(t, ca, "*.a.example")
	_, ip := issuePair(t, ca, "192.0.2.1")
	edA := ed25519Pair(t, "mail.a.example")
	mismatch := config.CertPair{Cert: a.Cert, Key: w.Key}

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "f.toml")
	parse := func(pairs ...config.CertPair) *config.Config {
		t.Helper()
		var b strings.Builder
		b.WriteString("hostname = \"mx.test\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n")
		b.WriteString("tls_cert = \"" + def.Cert + "\"\ntls_key = \"" + def.Key + "\"\ntls_certs = [\n")
		for _, p := range pairs {
			b.WriteString("  { cert = \"" + p.Cert + "\", key = \"" + p.Key + "\" },\n")
		}
		b.WriteString("]\n")
		c, err := config.Parse(cfgFile, []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name  string
		pairs []config.CertPair
		want  string // "" for none
	}{
		{"distinct names", []config.CertPair{a, b}, ""},
		{"exact before a wildcard", []config.CertPair{a, w}, ""},
		{"same name, key of another type", []config.CertPair{a, edA}, ""},
		{"key not the certificate's", []config.CertPair{w, mismatch},
			cfgFile + `:9: listener mx: tls_certs cert "` + a.Cert + `": tls: private key does not match public key`},
		{"no DNS names", []config.CertPair{ip},
			cfgFile + `:8: listener mx: tls_certs cert "` + ip.Cert + `": the certificate has no DNS names (subjectAltName), which SNI is matched against: no client would get it`},
		{"same name twice", []config.CertPair{b, a, a2},
			cfgFile + `:10: listener mx: tls_certs cert "` + a2.Cert + `": MAIL.A.example is served by tls_certs entry 2 ([mail.a.example]), listed first with a key of the same type (ECDSA): list this one first, or drop the name from one of them`},
		{"wildcard before a name it covers", []config.CertPair{w, a},
			cfgFile + `:9: listener mx: tls_certs cert "` + a.Cert + `": mail.a.example is served by tls_certs entry 1 ([*.a.example])`},
	} {
		c := parse(tc.pairs...)
		err := CheckCerts(c)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s:\ngot  %v\nwant %s", tc.name, err, tc.want)
		case tc.want != "":
			if err := Check(c); err == nil {
				t.Errorf("%s: the server would start", tc.name)
			}
		}
	}
}
