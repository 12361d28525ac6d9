package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// RFC 8460 §4.3's result types.
const (
	rptStartTLSNotSupported = "starttls-not-supported"
	rptHostMismatch         = "certificate-host-mismatch"
	rptExpired              = "certificate-expired"
	rptNotTrusted           = "certificate-not-trusted"
	rptValidationFailure    = "validation-failure"
	rptTLSAInvalid          = "tlsa-invalid"
	rptDNSSECInvalid        = "dnssec-invalid"
	rptSTSFetchError        = "sts-policy-fetch-error"
	rptSTSInvalid           = "sts-policy-invalid"
	rptSTSWebPKIInvalid     = "sts-webpki-invalid"
)

// Policy types (RFC 8460 §4.4).
const (
	rptTypeSTS  = "sts"
	rptTypeTLSA = "tlsa"
	rptTypeNone = "no-policy-found"
)

// rptPolicy is the policy a hop's sessions are counted under: made by
// hops (none), applySTS (the recipient domain's MTA-STS policy) or
// applyDANE (the MX host's TLSA records), only for MX delivery while
// tls_rpt is on. It never changes once made.
type rptPolicy struct {
	typ     string
	domain  string   // the policy domain: the recipient domain, in A-labels
	strings []string // policy-string
	mx      []string // mx-host
	// unusable: TLSA records none of which an SMTP client can use, so
	// TLS was required without authentication (RFC 7672 §2.2); a
	// session that negotiated TLS still failed the DANE policy.
	unusable bool
	size     int // bytes of text held, for tlsrptMaxBytes
}

func newRPTPolicy(typ, domain string, strs, mx []string) *rptPolicy {
	p := &rptPolicy{typ: typ, domain: strings.ToLower(dnsresolve.ASCII(domain)), strings: strs, mx: mx}
	p.size = len(p.domain)
	for _, s := range append(append([]string(nil), strs...), mx...) {
		p.size += len(s)
	}
	return p
}

// is reports whether q is p's policy.
func (p *rptPolicy) is(q *tlsrptPolicy) bool {
	return q.Type == p.typ && q.Domain == p.domain && slices.Equal(q.String, p.strings) && slices.Equal(q.MXHost, p.mx)
}

func (p *rptPolicy) json() tlsrptPolicy {
	return tlsrptPolicy{Type: p.typ, Domain: p.domain,
		String: append([]string(nil), p.strings...), MXHost: append([]string(nil), p.mx...)}
}

// stsRPTPolicy is an MTA-STS policy as reports name it: its text line by
// line and its mx patterns.
func stsRPTPolicy(domain string, p *stsPolicy) *rptPolicy {
	if p == nil {
		return newRPTPolicy(rptTypeSTS, domain, nil, nil)
	}
	return newRPTPolicy(rptTypeSTS, domain, p.lines, p.mx)
}

// tlsaRPTPolicy is a host's TLSA RRset as reports name it: each record in
// presentation format (RFC 6698 §2.2), and the host.
func tlsaRPTPolicy(domain, host string, recs []dnsresolve.TLSA) *rptPolicy {
	strs := make([]string, len(recs))
	for i, r := range recs {
		strs[i] = fmt.Sprintf("%d %d %d %X", r.Usage, r.Selector, r.MatchingType, r.Data)
	}
	return newRPTPolicy(rptTypeTLSA, domain, strs, []string{strings.TrimSuffix(host, ".")})
}

// rptConn is one connection's part in a report: the policy, the two ends
// and what the TLS handshake's checks found. Nil when nothing is
// recorded; its methods are no-ops then.
type rptConn struct {
	r        *TLSReports
	p        *rptPolicy
	host     string // receiving-mx-hostname
	helo     string // receiving-mx-helo, from the greeting
	local    string // sending-mta-ip
	remote   string // receiving-ip
	certErr  error  // the policy's certificate check failed
	recorded bool
	// notInPolicy: the host is not among the MTA-STS testing policy's
	// mx patterns, so even a good handshake fails the policy.
	notInPolicy bool
}

// rptConn starts counting a connection of hop h over c for the TLS
// reports, or returns nil when its sessions are not counted.
func (a *Agent) rptConn(h hop, c net.Conn) *rptConn {
	if a.tlsrpt == nil || h.tls.rpt == nil {
		return nil
	}
	return &rptConn{r: a.tlsrpt, p: h.tls.rpt, host: strings.TrimSuffix(h.host, "."),
		local: addrIP(c.LocalAddr()), remote: addrIP(c.RemoteAddr()), notInPolicy: h.tls.rptNotInPolicy}
}

// addrIP is a connection end's IP address as reports write it.
func addrIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().WithZone("").String()
}

// certFailed notes the certificate check's failure, as the handshake's
// VerifyConnection saw it (in MTA-STS testing mode, the session goes on).
func (c *rptConn) certFailed(err error) {
	if c != nil {
		c.certErr = err
	}
}

// noSTARTTLS records a server that did not offer STARTTLS.
func (c *rptConn) noSTARTTLS() { c.fail(rptStartTLSNotSupported, "") }

// handshake records the STARTTLS handshake's end, err its failure.
func (c *rptConn) handshake(err error) {
	if c == nil {
		return
	}
	switch {
	case c.certErr != nil:
		c.fail(rptResultOf(c.certErr))
	case err != nil:
		c.fail(rptResultOf(err))
	case c.notInPolicy:
		c.fail(rptValidationFailure, errMXNotInPolicy.Error())
	case c.p.unusable:
		c.fail(rptTLSAInvalid, "no usable TLSA record")
	default:
		c.recorded = true
		c.r.add(c.p, nil)
	}
}

func (c *rptConn) fail(typ, reason string) {
	if c == nil || c.recorded {
		return
	}
	c.recorded = true
	c.r.add(c.p, &tlsrptFailure{ResultType: typ, SendingIP: c.local, MXHostname: c.host, MXHelo: c.helo,
		ReceivingIP: c.remote, Count: 1, ReasonCode: reason})
}

// rptResultOf sorts a failed TLS handshake or certificate check into RFC
// 8460 §4.3's result types, with a short reason where the type alone says
// little (§4.3.4: validation-failure and certificate-not-trusted SHOULD
// come with one).
func rptResultOf(err error) (typ, reason string) {
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var names *nameMismatch
	var dane *daneError
	switch {
	case errors.As(err, &host), errors.As(err, &names):
		return rptHostMismatch, ""
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return rptExpired, ""
	case errors.As(err, &unknown), errors.As(err, &invalid):
		return rptNotTrusted, reasonCode(err)
	case errors.As(err, &dane):
		return rptNotTrusted, "no TLSA record matches the certificate"
	}
	return rptValidationFailure, reasonCode(err)
}

// reasonCode is err as a failure-reason-code: the error without the
// addresses a network error names (they are in the report's fields), cut
// short.
func reasonCode(err error) string {
	var op *net.OpError
	s := err.Error()
	if errors.As(err, &op) && op.Err != nil {
		s = op.Err.Error()
	}
	if len(s) > tlsrptMaxReason {
		s = s[:tlsrptMaxReason]
	}
	return strings.ToValidUTF8(s, "")
}

// errMXNotInPolicy is an MX host that none of the MTA-STS policy's mx
// patterns match (RFC 8461 §4.1). RFC 8460 §4.3 has no result type of its
// own for it: it is a validation-failure with this reason.
var errMXNotInPolicy = errors.New("MX host not in the MTA-STS policy")

// policyFailed records a failure of domain's policy itself, before any
// session (an MTA-STS policy that could not be fetched, a TLSA lookup
// that failed): one failed session of the attempt that met it.
func (a *Agent) policyFailed(ctx context.Context, p *rptPolicy, typ, host string, err error) {
	if a.tlsrpt == nil || p == nil || tlsrptExempt(ctx) {
		return
	}
	reason := ""
	if err != nil {
		reason = reasonCode(err)
	}
	a.tlsrpt.add(p, &tlsrptFailure{ResultType: typ, MXHostname: strings.TrimSuffix(host, "."), Count: 1, ReasonCode: reason})
}

// stsFetchResult sorts a failed MTA-STS policy fetch (RFC 8460 §4.3.2.2):
// the HTTPS server's certificate, a policy that does not parse, or any
// other failure to get it.
func stsFetchResult(err error) string {
	var inv *stsInvalid
	var cv *tls.CertificateVerificationError
	var host x509.HostnameError
	var ca x509.UnknownAuthorityError
	var cert x509.CertificateInvalidError
	switch {
	case errors.As(err, &inv):
		return rptSTSInvalid
	case errors.As(err, &cv), errors.As(err, &host), errors.As(err, &ca), errors.As(err, &cert):
		return rptSTSWebPKIInvalid
	}
	return rptSTSFetchError
}

// tlsrptExemptKey marks the attempt of a report of our own: RFC 8460 §3
// asks that its delivery go ahead despite TLS failures and not be
// reported on.
type tlsrptExemptKey struct{}

func withTLSRPTExempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, tlsrptExemptKey{}, true)
}

func tlsrptExempt(ctx context.Context) bool {
	v, _ := ctx.Value(tlsrptExemptKey{}).(bool)
	return v
}
