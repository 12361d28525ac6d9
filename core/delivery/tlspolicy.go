package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/reply"
)

// tlsPolicy is how a hop's STARTTLS is handled.
type tlsPolicy struct {
	mode   TLSMode // "" is opportunistic
	caFile string  // roots for verify, instead of Routing.RootCAs
	sts    string  // "enforce" or "testing" when an MTA-STS policy set this, for logs
	domain string  // the recipient domain whose MTA-STS policy applies
	report bool    // MTA-STS testing: verify, log failures, carry on
	// tlsa are the host's usable TLSA records under tlsDANE (dane.go),
	// daneNames the names a DANE-TA certificate may match, the TLSA
	// base domain first, and daneKey names both for the connection pool.
	tlsa      []dnsresolve.TLSA
	daneNames []string
	daneKey   string
	// trace records the handshakes for the attempt's log line and trace
	// event (nil: not recorded); it does not change the policy.
	trace *attemptTrace
	// rpt is the policy a TLS report counts the hop's sessions under
	// (tlsrpt_record.go), nil when none is kept; rc, set by dial, is the
	// connection being counted. Neither changes the policy.
	rpt *rptPolicy
	rc  *rptConn
	// rptNotInPolicy: an MTA-STS testing policy does not list the host
	// (RFC 8461 §4.1); a report counts its sessions as failures.
	rptNotInPolicy bool
	// requireTLS: the message was received with REQUIRETLS (RFC 8689,
	// requiretls.go): no plaintext, and the server must offer it.
	requireTLS bool
	// ignored: the recipient domain's policy (MTA-STS enforce, with
	// report set, or DANE) is checked and reported but does not stop
	// delivery, for a message with "TLS-Required: No" (tlsrequiredno.go).
	ignored bool
}

// tlsaRPT is the TLS reports' policy for host's TLSA records recs, when
// the hop's sessions are reported on (rpt is set), else nil.
func (p tlsPolicy) tlsaRPT(domain, host string, recs []dnsresolve.TLSA) *rptPolicy {
	if p.rpt == nil {
		return nil
	}
	return tlsaRPTPolicy(domain, host, recs)
}

// fallback reports whether a failed STARTTLS may be retried in plaintext:
// only without a policy demanding encryption (RFC 8461 §5: in enforce
// mode a failure is never worked around).
func (p tlsPolicy) fallback() bool {
	return !p.requireTLS && (p.ignored || p.mode == "" || p.mode == TLSOpportunistic)
}

// required reports whether a server that does not offer STARTTLS must be
// given up.
func (p tlsPolicy) required() bool { return !p.fallback() }

// variant names the policy for the pool key: sessions made under one
// policy are never reused under another.
func (p tlsPolicy) variant() string {
	if p.fallback() && !p.report && !p.ignored {
		return ""
	}
	v := string(p.mode)
	if p.report {
		v += "+report"
	}
	if p.caFile != "" {
		v += "+ca=" + p.caFile
	}
	if p.daneKey != "" {
		v += "+tlsa=" + p.daneKey
	}
	if p.requireTLS {
		// Only sessions that were checked for the extension.
		v += "+requiretls"
	}
	if p.ignored {
		// A session whose certificate failed is not one the policy
		// allows for other mail.
		v += "+ignored"
	}
	return v
}

// checksName reports whether the certificate is checked against the
// host name (clientTLS): tls=verify, MTA-STS enforce, and testing mode,
// which reports a mismatch. DANE keys its names in daneKey.
func (p tlsPolicy) checksName() bool {
	return p.mode == TLSVerify || p.report
}

// errNoSTARTTLS is a server without STARTTLS where the policy requires it.
var errNoSTARTTLS = errors.New("STARTTLS not offered, but the TLS policy requires it")

// tlsNotOffered is the reply recipients are deferred with when the last
// server tried did not offer STARTTLS under a policy requiring it (tls=
// required or verify, MTA-STS enforce, DANE): Postfix's "4.7.4 TLS is
// required, but was not offered by host HOST[ADDR]:PORT", which
// operators' smtp_dsn_filter rules match. RFC 3463 X.7.4: security
// features not supported.
func tlsNotOffered(at string) *reply.Reply {
	return &reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 4}, Text: "TLS is required, but was not offered by host " + at}
}

// clientTLS returns the client config for a STARTTLS to host under p.
func (a *Agent) clientTLS(host string, p tlsPolicy) (*tls.Config, error) {
	cfg := a.tlsConfig(host)
	roots := a.rt.opt.RootCAs
	if p.caFile != "" {
		pem, err := os.ReadFile(p.caFile)
		if err != nil {
			return nil, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificates", p.caFile)
		}
	}
	switch {
	case p.mode == tlsDANE:
		// RFC 7672 §3.1: the TLSA records, not the roots, authenticate
		// the server; SNI names the TLSA base domain (§8.1).
		cfg.InsecureSkipVerify = true
		cfg.ServerName = p.daneNames[0]
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyDANE(cs, p.daneNames, p.tlsa); err != nil {
				p.trace.certFailed(host, err)
				p.rc.certFailed(err)
				if p.ignored {
					a.log.Warn("delivery: DANE "+tlsRequiredNoLog+": certificate not trusted; delivering anyway",
						"host", host, "err", err)
					return nil
				}
				return err
			}
			p.trace.daneVerified(host)
			return nil
		}
	case p.mode == TLSVerify && p.sts == "enforce" && p.trace != nil:
		// RFC 8461 §4.2: the certificate must be valid for the MX host.
		// verifyChain is the check crypto/tls would make (as in testing
		// mode); running it here tells the trace why a handshake failed.
		cfg.InsecureSkipVerify = true
		cfg.RootCAs = roots
		cfg.ServerName = host
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			err := verifyChain(cs, host, roots)
			if err != nil {
				p.trace.certFailed(host, err)
				p.rc.certFailed(err)
			}
			return err
		}
	case p.mode == TLSVerify:
		cfg.InsecureSkipVerify = false
		cfg.RootCAs = roots
		cfg.ServerName = host
		cfg.VerifyConnection = nil
	case p.report:
		// RFC 8461 §5: in testing mode a certificate that would fail is
		// reported, and delivery goes ahead.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyChain(cs, host, roots); err != nil {
				msg := "delivery: MTA-STS testing: certificate would fail enforce mode; delivering anyway"
				if p.ignored {
					msg = "delivery: MTA-STS enforce " + tlsRequiredNoLog + ": certificate not valid; delivering anyway"
				}
				a.log.Warn(msg, "domain", p.domain, "host", host, "err", err)
				p.trace.certFailed(host, err)
				p.rc.certFailed(err)
			}
			return nil
		}
	}
	p.trace.watch(host, cfg)
	return cfg, nil
}

// verifyChain checks the peer's chain against roots for host, as the
// standard library does when InsecureSkipVerify is off.
func verifyChain(cs tls.ConnectionState, host string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}
