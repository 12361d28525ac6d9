package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/reply"
)

// DANE for SMTP (RFC 7672), as Postfix's smtp_tls_security_level = dane:
// an MX host reached through a DNSSEC-secure MX RRset and secure address
// records, whose secure TLSA RRset at _PORT._tcp.HOST has usable records,
// gets mandatory TLS authenticated by those records; a failed TLSA lookup
// skips the host; no TLSA, or anything insecure, leaves TLS opportunistic.
// "Secure" is the configured resolver's AD bit: Sluice trusts it, as
// Postfix does, and checks no signatures itself; check-config and the
// daemon warn when DANE is on and a DNS server is not on loopback
// (core/daemon/danewarn.go).

// tlsDANE is the TLS policy of a host with usable TLSA records. It is
// set by the agent only, never by a route (a route's tls=dane is
// TLSDANE, a request that applyDANE turns into this or another policy).
const tlsDANE TLSMode = "dane-tlsa"

// RFC 3463 X.7.5: cryptographic failure. Postfix defers these too, with
// "Server certificate not trusted" and "TLSA lookup error".
var (
	daneUntrusted = reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 5}, Text: "Server certificate not trusted (DANE), will retry"}
	tlsaFailed    = reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 5}, Text: "TLSA lookup failed, will retry"}
	daneRequired  = reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 5}, Text: "DANE is required (tls=dane-only), will retry"}
)

// daneError is a host given up for DANE: its TLSA lookup failed, its
// certificate matched none of its TLSA records, or tls=dane-only found
// no way to use DANE with it.
type daneError struct {
	lookup bool // the TLSA lookup failed
	only   bool // tls=dane-only, and DANE did not apply
	err    error
}

func (e *daneError) Error() string { return e.err.Error() }
func (e *daneError) Unwrap() error { return e.err }

// reply is what the recipients are deferred with when this was the last
// failure of the attempt.
func (e *daneError) reply() reply.Reply {
	switch {
	case e.lookup:
		return tlsaFailed
	case e.only:
		return daneRequired
	}
	return daneUntrusted
}

// applyDANE looks up h's TLSA records and sets its TLS policy from them.
// The caller has checked that h came from a secure MX RRset (RFC 7672
// §2.2.1) or is an smtp: route's host under tls=dane, which has no MX
// RRset to be insecure; found is its address answer and nexthop the
// recipient domain ("" for a route). An error means h must not be used:
// RFC 7672 §2.2.1 forbids delivery to a host whose TLSA lookup failed (a
// validating resolver answers SERVFAIL for a bogus RRset), for an
// attacker could make it fail to strip the protection; and under
// tls=dane-only, a host DANE does not apply to is not used either, as
// Postfix's dane-only defers it with 4.7.5.
func (a *Agent) applyDANE(ctx context.Context, h *hop, found dnsresolve.Host, nexthop string) error {
	// notApplied is the outcome where DANE does not apply, for why.
	notApplied := func(why string) error {
		if !h.daneOnly {
			return nil
		}
		return &daneError{only: true, err: fmt.Errorf("%s: %s", h.host, why)}
	}
	// ignore: the message says "TLS-Required: No" (tlsrequiredno.go):
	// the MX host's DANE is checked and reported but stops nothing. A
	// route's tls=dane is the operator's and stays.
	ignore := h.mx && tlsRequiredNoFrom(ctx)
	// lookupFailed is a failed lookup: the host is skipped, and a TLS
	// report counts it as dnssec-invalid (RFC 8460 §4.3.2.1).
	lookupFailed := func(err error) error {
		a.policyFailed(ctx, h.tls.tlsaRPT(nexthop, h.host, nil), rptDNSSECInvalid, h.host, err)
		if ignore {
			a.log.Warn("delivery: DANE "+tlsRequiredNoLog+": TLSA lookup failed; host used without DANE",
				"host", h.host, "err", err)
			return nil
		}
		return &daneError{lookup: true, err: err}
	}
	bases, err := a.tlsaBases(ctx, h.host, found)
	if err != nil {
		return lookupFailed(err)
	}
	if len(bases) == 0 {
		return notApplied("address records not DNSSEC-secure, DANE does not apply")
	}
	// RFC 7672 §2.2.2: the CNAME target first; where it has no secure
	// TLSA records, the MX host's own name. A failed lookup is not
	// passed over, as Postfix's tls_dane_resolve() does not.
	var recs []dnsresolve.TLSA
	var base, name string
	for _, base = range bases {
		name = fmt.Sprintf("_%d._tcp.%s", h.port, base)
		var secure bool
		recs, secure, err = a.dns.LookupTLSA(ctx, name)
		switch {
		case dnsresolve.IsNotFound(err):
			recs = nil
			continue
		case err != nil:
			return lookupFailed(err) // it names _PORT._tcp.HOST
		case !secure:
			// RFC 7672 §2.2: records the resolver did not validate
			// are not used; the name is as one without TLSA.
			recs = nil
			continue
		}
		if len(recs) > 0 {
			break
		}
	}
	if len(recs) == 0 {
		// No TLSA: opportunistic, as without DANE.
		return notApplied(fmt.Sprintf("no DNSSEC-secure TLSA records at _%d._tcp.%s", h.port, bases[0]))
	}
	trace := h.tls.trace
	usable := usableTLSA(recs)
	if len(usable) == 0 {
		// TLSA records were published, none of which an SMTP client
		// can use (PKIX usages, RFC 7672 §3.1.3, or unknown
		// parameters): TLS becomes mandatory (RFC 7672 §2.2; Postfix's
		// "encrypt" in this case). DANE authenticates nothing here, so
		// an MTA-STS policy keeps what it asks: enforce mode's check of
		// the certificate, testing mode's report.
		if h.daneOnly {
			return notApplied("TLSA records unusable at " + name)
		}
		if !h.tls.fallback() {
			return nil
		}
		if ignore {
			a.log.Info("delivery: DANE "+tlsRequiredNoLog+": no usable TLSA record, TLS not required", "host", h.host, "tlsa", name)
		} else {
			a.log.Info("delivery: DANE: no usable TLSA record, TLS required without authentication", "host", h.host, "tlsa", name)
			h.tls.mode = TLSRequired
		}
		if h.tls.rpt = h.tls.tlsaRPT(nexthop, h.host, recs); h.tls.rpt != nil {
			h.tls.rpt.unusable = true // tlsa-invalid (RFC 8460 §4.3.2.1)
		}
		return nil
	}
	names := []string{base}
	if h.mx {
		names = daneNames(base, h.host, nexthop)
	}
	key := names[0] + "/" + tlsaDigest(usable)
	if hasTA(usable) {
		// The names a DANE-TA certificate is checked against depend
		// on the recipient domain: a session authenticated for one
		// domain's name is not reused for another's.
		key = strings.Join(names, ",") + "/" + tlsaDigest(usable)
	}
	// RFC 8461 §2: where DANE TLSA records exist, DANE decides, not an
	// MTA-STS policy.
	h.tls = tlsPolicy{mode: tlsDANE, tlsa: usable, daneNames: names, daneKey: key, domain: h.tls.domain, trace: trace,
		rpt: h.tls.tlsaRPT(nexthop, h.host, usable), requireTLS: h.tls.requireTLS, ignored: ignore}
	return nil
}

// tlsaBases lists the names to look for host's TLSA records at, in
// order (RFC 7672 §2.2.2, as Postfix's tls_dane_resolve()): with secure
// addresses, the CNAME target they came through and then host itself;
// with addresses found through a CNAME chain that is not secure as a
// whole, host alone, if its own CNAME record is secure (RFC 7671 §7);
// otherwise none, and DANE does not apply.
func (a *Agent) tlsaBases(ctx context.Context, host string, found dnsresolve.Host) ([]string, error) {
	switch {
	case found.Secure && found.Target != "":
		return []string{found.Target, host}, nil
	case found.Secure:
		return []string{host}, nil
	case found.Target == "":
		return nil, nil
	}
	ok, err := a.dns.LookupCNAMESecure(ctx, host)
	if err != nil || !ok {
		return nil, err
	}
	return []string{host}, nil
}

// daneNames are the reference identifiers a DANE-TA(2) certificate may
// match at an MX host (RFC 7672 §3.2.2): the TLSA base domain, the MX
// host name when that was a CNAME, and the next-hop (recipient) domain,
// as Postfix accepts them. The base domain comes first: it is also the
// SNI (§8.1). A host reached without MX lookup (an smtp: route) has the
// base domain alone, as Postfix's dane_init() matches it for a
// destination without MX records.
func daneNames(base, host, nexthop string) []string {
	names := []string{base}
	for _, n := range []string{host, dnsresolve.ASCII(nexthop)} {
		if n = strings.ToLower(strings.TrimSuffix(n, ".")); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// hasTA reports whether recs hold a DANE-TA(2) record.
func hasTA(recs []dnsresolve.TLSA) bool {
	return slices.ContainsFunc(recs, func(r dnsresolve.TLSA) bool { return r.Usage == 2 })
}

// usableTLSA keeps the records an SMTP client can use: DANE-TA(2) and
// DANE-EE(3) (RFC 7672 §3.1; PKIX-TA(0) and PKIX-EE(1) are not for SMTP,
// §3.1.3), selector Cert(0) or SPKI(1), and matching type Full(0),
// SHA2-256(1) or SHA2-512(2) with a digest of the right length (RFC
// 6698 §2.1, RFC 7218).
func usableTLSA(recs []dnsresolve.TLSA) []dnsresolve.TLSA {
	var out []dnsresolve.TLSA
	for _, r := range recs {
		ok := (r.Usage == 2 || r.Usage == 3) && r.Selector <= 1
		switch r.MatchingType {
		case 0:
			ok = ok && len(r.Data) > 0
		case 1:
			ok = ok && len(r.Data) == sha256.Size
		case 2:
			ok = ok && len(r.Data) == sha512.Size
		default:
			ok = false
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// tlsaDigest names a TLSA RRset for the connection pool: a session
// authenticated by one set is not reused under another.
func tlsaDigest(recs []dnsresolve.TLSA) string {
	h := sha256.New()
	for _, r := range recs {
		fmt.Fprintf(h, "%d %d %d %x;", r.Usage, r.Selector, r.MatchingType, r.Data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// verifyDANE checks the server's chain against the TLSA records (RFC
// 7672 §3.1, §3.2). A DANE-EE(3) record matching the server's own
// certificate authenticates it, whatever its names and dates (§3.1.1). A
// DANE-TA(2) record names a certificate the server sends above its own;
// the chain must then verify up to it as a trust anchor, within its
// dates, and the server's certificate must be valid for one of names,
// the reference identifiers of §3.2.2 (daneNames).
func verifyDANE(cs tls.ConnectionState, names []string, recs []dnsresolve.TLSA) error {
	chain := cs.PeerCertificates
	if len(chain) == 0 {
		return &daneError{err: errors.New("DANE: no server certificate")}
	}
	for _, r := range recs {
		if r.Usage == 3 && tlsaMatches(r, chain[0]) {
			return nil
		}
	}
	var taErr error
	for _, r := range recs {
		if r.Usage != 2 {
			continue
		}
		for i, ta := range chain[1:] {
			if !tlsaMatches(r, ta) {
				continue
			}
			roots := x509.NewCertPool()
			roots.AddCert(ta)
			inter := x509.NewCertPool()
			for _, c := range chain[1 : i+1] {
				inter.AddCert(c)
			}
			if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
				taErr = err
				continue
			}
			if err := verifyNames(chain[0], names); err != nil {
				taErr = err
				continue
			}
			return nil
		}
	}
	if taErr != nil {
		return &daneError{err: fmt.Errorf("DANE: server certificate not trusted: chain to the TLSA trust anchor: %w", taErr)}
	}
	return &daneError{err: fmt.Errorf("DANE: server certificate not trusted: no TLSA record of %s matches it", names[0])}
}

// verifyNames checks that c is valid for one of names.
func verifyNames(c *x509.Certificate, names []string) error {
	for _, n := range names {
		if c.VerifyHostname(n) == nil {
			return nil
		}
	}
	return &nameMismatch{valid: c.DNSNames, want: names}
}

// nameMismatch is a DANE-TA certificate valid for none of the reference
// identifiers (a TLS report's certificate-host-mismatch).
type nameMismatch struct{ valid, want []string }

func (e *nameMismatch) Error() string {
	return fmt.Sprintf("certificate is valid for %s, not for any of %s", strings.Join(e.valid, ", "), strings.Join(e.want, ", "))
}

// tlsaMatches reports whether r names c (RFC 6698 §2.1.2-§2.1.3).
func tlsaMatches(r dnsresolve.TLSA, c *x509.Certificate) bool {
	data := c.Raw
	if r.Selector == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case 1:
		sum := sha256.Sum256(data)
		data = sum[:]
	case 2:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	return bytes.Equal(data, r.Data)
}
