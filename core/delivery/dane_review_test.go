package delivery

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A securely resolved CNAME whose target's TLSA lookup fails (SERVFAIL,
// as a validating resolver answers for a bogus RRset): the MX host's own
// name is not asked instead, though its record would match (RFC 7672
// §2.2.1; Postfix's tls_dane_resolve() falls back only on "no records"),
// for an attacker could make the target's lookup fail to choose the
// records. The mail waits with 4.7.5 TLSA lookup failed.
func TestDANECNAMETargetLookupFailureDoesNotFallBack(t *testing.T) {
	h := newHarness(t)
	cert := testlib.SelfSigned(t, "mx.dest.test")
	h.useValidatingDNS(nil, []string{fmt.Sprintf("_%d._tcp.host.provider.test", h.port)},
		"dest.test. MX 10 mx.dest.test.", "mx.dest.test. CNAME host.provider.test.",
		"host.provider.test. A 127.0.0.1",
		h.tlsaRRAt("mx.dest.test", 3, 1, leafOf(t, cert)))
	s, _ := cnameSink(h, cert)
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 ") || !strings.Contains(r.LastReply, "host.provider.test") {
		t.Fatalf("%+v, want deferred 4.7.5 for the target's failed TLSA lookup", r)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent after the target's TLSA lookup failed", n)
	}
}

// A DANE-TA certificate valid only for the recipient domain a.test (one
// of RFC 7672 §3.2.2's reference identifiers): mail for a.test goes, and
// the session it used, kept in the pool, is not reused for b.test, whose
// mail has the same MX host and TLSA records but for which that
// certificate names none of the reference identifiers.
func TestDANETrustAnchorSessionNotReusedForAnotherDomain(t *testing.T) {
	h := newHarness(t)
	inter := testlib.NewCA(t).Intermediate()
	cert := inter.Issue("a.test")
	ta, err := x509.ParseCertificate(cert.Certificate[1])
	if err != nil {
		t.Fatal(err)
	}
	h.useValidatingDNS(nil, nil, "a.test. MX 10 mx.shared.test.", "b.test. MX 10 mx.shared.test.",
		"mx.shared.test. A 127.0.0.1", h.tlsaRRAt("mx.shared.test", 2, 1, ta))
	s, _ := cnameSink(h, cert)
	h.start()
	first := h.enqueue(msg("s@origin.test", "r@a.test"))
	if r := rcpt(h.recorded(first), "r@a.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered: the certificate is valid for the recipient domain", r)
	}
	second := h.enqueue(msg("s@origin.test", "r@b.test"))
	r := rcpt(h.recorded(second), "r@b.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 ") {
		t.Fatalf("%+v, want deferred 4.7.5: the certificate names neither mx.shared.test nor b.test", r)
	}
	if n := len(s.messages()); n != 1 {
		t.Fatalf("%d messages at the sink, want a.test's alone", n)
	}
}

// An MTA-STS policy in enforce mode and an MX host that does not offer
// STARTTLS: the mail waits with Postfix's 4.7.4, as under DANE or
// tls=required (b09aa9c), and nothing goes in plaintext.
func TestMTASTSEnforceWithoutSTARTTLSDefers474(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, testlib.NewCA(t), stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if want := fmt.Sprintf("451 4.7.4 TLS is required, but was not offered by host mx.dest.test[127.0.0.1]:%d", h.port); r.Status != envelope.RcptPending || r.LastReply != want {
		t.Fatalf("%+v, want deferred with %q", r, want)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent in plaintext", n)
	}
}
