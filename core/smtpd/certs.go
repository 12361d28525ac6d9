package smtpd

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/sluice-mta/sluice/core/config"
)

// certSet is what a listener's TLS serves: to a client whose SNI (RFC
// 6066 §3) names one of tls_certs' DNS names, the first such pair, and
// else tls_cert. It is read whole at each handshake and replaced whole
// by a reload.
type certSet struct {
	def *tls.Certificate   // tls_cert
	sni []*tls.Certificate // tls_certs, in the order written
}

// pick chooses the certificate for hello as crypto/tls chooses among
// Config.Certificates: the first valid for the name (a wildcard covers
// one label; no case, no trailing dot) whose key the client can use, so
// that an RSA and an ECDSA certificate may share a name. Without SNI,
// or with a name none covers, it is tls_cert.
func (cs *certSet) pick(hello *tls.ClientHelloInfo) *tls.Certificate {
	if hello.ServerName != "" {
		for _, c := range cs.sni {
			if hello.SupportsCertificate(c) == nil {
				return c
			}
		}
	}
	return cs.def
}

// certError is a listener's certificate or key that does not load, or
// a tls_certs pair that SNI could never select.
type certError struct {
	listener string
	pair     int // index in tls_certs; -1 for tls_cert
	path     string
	err      error
}

func (e *certError) Error() string {
	if e.pair < 0 {
		return fmt.Sprintf("smtpd: listener %s: %v", e.listener, e.err)
	}
	return fmt.Sprintf("smtpd: listener %s: tls_certs cert %q: %v", e.listener, e.path, e.err)
}

func (e *certError) Unwrap() error { return e.err }

// loadCerts reads a listener's certificates and keys (paths relative to
// the config file), at start, at each reload and for check-config.
func loadCerts(c *config.Config, l config.Listener) (*certSet, error) {
	def, err := loadPair(c.Resolve(l.TLSCert), c.Resolve(l.TLSKey))
	if err != nil {
		return nil, &certError{listener: l.Name, pair: -1, path: l.TLSCert, err: err}
	}
	cs := &certSet{def: &def}
	for j, p := range l.TLSCerts {
		cert, err := loadPair(c.Resolve(p.Cert), c.Resolve(p.Key))
		if err == nil && cert.Leaf == nil { // GODEBUG=x509keypairleaf=0
			cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
		}
		if err == nil {
			err = selectable(cs.sni, cert.Leaf)
		}
		if err != nil {
			return nil, &certError{listener: l.Name, pair: j, path: p.Cert, err: err}
		}
		cs.sni = append(cs.sni, &cert)
	}
	return cs, nil
}

// loadPair reads a certificate file (the certificate, then any
// intermediates) and its key as tls.LoadX509KeyPair does, but refuses a
// certificate file with a PEM block that does not end: one read while a
// renewal is copied over it (cp truncates, then writes) would load as
// the certificate without the intermediates after the cut, and clients
// that verify it (MTA-STS, RFC 8461 §4.2) would fail until the next
// reload. The refused reload keeps the chain in service.
func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	// pem.Decode passes over a block it cannot end to the next one, so
	// the blocks decoded are counted against those begun.
	blocks := 0
	for rest := certPEM; ; blocks++ {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
	}
	if begun := bytes.Count(certPEM, []byte("-----BEGIN ")); begun > blocks {
		return tls.Certificate{}, fmt.Errorf("the certificate file has a PEM block that does not end (cut short, or still being written): %d begun, %d whole", begun, blocks)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// selectable refuses a tls_certs certificate that SNI would never, or
// not always, select: one without DNS names (crypto/tls matches SNI
// against those alone, not the common name), and one with a name for
// which a pair listed before it, with a key of the same type, is chosen
// first. That is an error rather than a warning: which certificate a
// name gets should not hang on the order of the list. Names shared with
// a key of another type are the usual RSA-and-ECDSA pair, each client
// getting the first it can use.
func selectable(before []*tls.Certificate, leaf *x509.Certificate) error {
	if len(leaf.DNSNames) == 0 {
		return errors.New("the certificate has no DNS names (subjectAltName), which SNI is matched against: no client would get it")
	}
	for k, b := range before {
		if b.Leaf.PublicKeyAlgorithm != leaf.PublicKeyAlgorithm {
			continue
		}
		for _, name := range leaf.DNSNames {
			// VerifyHostname matches a wildcard written twice too.
			if b.Leaf.VerifyHostname(name) == nil {
				return fmt.Errorf("%s is served by tls_certs entry %d (%v), listed first with a key of the same type (%v): list this one first, or drop the name from one of them",
					name, k+1, b.Leaf.DNSNames, leaf.PublicKeyAlgorithm)
			}
		}
	}
	return nil
}

// CheckCerts loads every listener's certificates as the listener would,
// and reports one that fails at the line of the key naming it, for
// check-config and for the daemon before it starts anything.
func CheckCerts(c *config.Config) error {
	for i, l := range c.Listeners {
		if l.TLSCert == "" {
			continue
		}
		_, err := loadCerts(c, l)
		var ce *certError
		if !errors.As(err, &ce) {
			continue
		}
		if ce.pair < 0 {
			return c.KeyError("listener", i, "tls_cert", fmt.Errorf("listener %s: %w", l.Name, ce.err))
		}
		return c.KeyError("listener."+strconv.Itoa(i)+".tls_certs", ce.pair, "cert",
			fmt.Errorf("listener %s: tls_certs cert %q: %w", l.Name, ce.path, ce.err))
	}
	return nil
}
