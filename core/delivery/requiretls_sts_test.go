package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// rtlsSTSSetup is rtlsSetup with dest.test's MX records not validated
// and an MTA-STS policy published for it (the server answering policy).
func rtlsSTSSetup(t *testing.T, policy string) (*harness, *sink, *stsServer) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useValidatingDNS([]string{"dest.test"}, nil, append(daneZone, "origin.test. MX 10 mx.dest.test.",
		`_mta-sts.dest.test. TXT "v=STSv1; id=20260301T1;"`)...)
	h.opt.Routing.DANE = false
	sts := startSTS(t, h, ca, policy)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test"), requireTLS: true})
	h.start()
	return h, s, sts
}

// RFC 8689 §4.2.1: an MX host from records not validated by DNSSEC that
// the domain's MTA-STS policy lists is looked up securely enough.
func TestRequireTLSInsecureMXListedByMTASTS(t *testing.T) {
	for _, policy := range []string{stsEnforce, stsTesting} {
		h, s, _ := rtlsSTSSetup(t, policy)
		id := h.enqueue(rtlsMsg())
		if got := waitMsg(t, s); !got.tls || !got.opts.RequireTLS {
			t.Fatalf("tls %v, MAIL REQUIRETLS %v; want both", got.tls, got.opts.RequireTLS)
		}
		if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
			t.Fatalf("%+v, want delivered", r)
		}
	}
}

// A policy that could not be fetched lists nothing: the message is
// returned, and the policy is asked for once in the attempt (a second
// fetch would count its failure twice in a TLS report).
func TestRequireTLSPolicyFetchFailureNotListed(t *testing.T) {
	h, s, sts := rtlsSTSSetup(t, "version: STSv1\nmode: enforce\n") // no mx, no max_age: invalid
	if r := rtlsReturned(t, h, s, h.enqueue(rtlsMsg()), "5.7.10"); !strings.Contains(r.LastReply, "not DNSSEC-validated") {
		t.Fatalf("reply %q does not say why", r.LastReply)
	}
	if n := sts.count(); n != 1 {
		t.Fatalf("policy fetched %d times in one attempt, want once", n)
	}
}
