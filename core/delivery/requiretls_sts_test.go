package delivery

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// rtlsSTSSetup is rtlsSetup with dest.test's MX records not validated
// and an MTA-STS policy published for it (the server answering policy).
func rtlsSTSSetup(t *testing.T, policy string) (*harness, *sink, *stsServer) {
	h, s, sts := rtlsSTSHarness(t, policy, nil)
	h.start()
	return h, s, sts
}

// rtlsSTSHarness is rtlsSTSSetup not started yet, mta_sts on; bogus
// lists names whose lookups fail (SERVFAIL).
func rtlsSTSHarness(t *testing.T, policy string, bogus []string) (*harness, *sink, *stsServer) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useValidatingDNS([]string{"dest.test"}, bogus, append(daneZone, "origin.test. MX 10 mx.dest.test.",
		`_mta-sts.dest.test. TXT "v=STSv1; id=20260301T1;"`)...)
	h.opt.Routing.DANE = false
	sts := startSTS(t, h, ca, policy)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test"), requireTLS: true})
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

// RFC 8689 §4.2.1 point 1: validating the MX host with MTA-STS is part
// of REQUIRETLS, not of [delivery] mta_sts: with mta_sts off (the
// default) the policy is fetched for a REQUIRETLS message all the same,
// and only for it; its sessions are not counted under the policy in a
// TLS report.
func TestRequireTLSMTASTSOffAsksPolicy(t *testing.T) {
	h, s, sts := rtlsSTSHarness(t, stsEnforce, nil)
	h.opt.Routing.MTASTS = false
	r := tlsReportsFor(h, "")
	h.start()
	plain := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); got.opts.RequireTLS {
		t.Fatal("MAIL carried REQUIRETLS for a message without it")
	}
	if rc := rcpt(h.recorded(plain), "r@dest.test"); rc.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", rc)
	}
	if n := sts.count(); n != 0 {
		t.Fatalf("policy fetched %d times for mail without REQUIRETLS, mta_sts off", n)
	}
	id := h.enqueue(rtlsMsg())
	if got := waitMsg(t, s); !got.tls || !got.opts.RequireTLS {
		t.Fatalf("tls %v, MAIL REQUIRETLS %v; want both", got.tls, got.opts.RequireTLS)
	}
	if rc := rcpt(h.recorded(id), "r@dest.test"); rc.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", rc)
	}
	if n := sts.count(); n != 1 {
		t.Fatalf("policy fetched %d times, want once", n)
	}
	for _, rep := range todays(t, r) {
		for _, p := range rep.Policies {
			if p.Policy.Type == "sts" {
				t.Fatalf("sessions counted under the MTA-STS policy with mta_sts off: %+v", p)
			}
		}
	}
}

// rtlsDeferred checks that id's recipient is deferred with 451 4.7.10,
// the reply saying why, and that nothing reached s.
func rtlsDeferred(t *testing.T, h *harness, s *sink, id, why string) {
	t.Helper()
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.10 ") || !strings.Contains(r.LastReply, why) {
		t.Fatalf("%+v, want deferred with 451 4.7.10 saying %q", r, why)
	}
	for _, m := range s.messages() {
		if slices.Contains(m.rcpts, "r@dest.test") {
			t.Fatalf("sent: %+v", m)
		}
	}
}

// A failed _mta-sts TXT lookup (SERVFAIL) says nothing of whether the
// domain has a policy listing its MX hosts: the message waits for the
// next attempt rather than being returned, mta_sts on or off.
func TestRequireTLSPolicyLookupFailureDefers(t *testing.T) {
	for _, on := range []bool{true, false} {
		h, s, sts := rtlsSTSHarness(t, stsEnforce, []string{"_mta-sts.dest.test"})
		h.opt.Routing.MTASTS = on
		logs := recordLog(h)
		h.start()
		rtlsDeferred(t, h, s, h.enqueue(rtlsMsg()), "MTA-STS TXT lookup")
		if n := sts.count(); n != 0 {
			t.Fatalf("mta_sts %v: policy fetched %d times without its record", on, n)
		}
		if l := logs.String(); !strings.Contains(l, "MTA-STS policy could not be had; will retry") {
			t.Fatalf("mta_sts %v: no log line saying why:\n%s", on, l)
		}
	}
}

// A policy announced (TXT present) that could not be fetched (HTTP 500)
// and none cached: deferred, not returned. It is asked for once in the
// attempt (a second fetch would count its failure twice in a TLS report);
// with mta_sts off its failure is not counted.
func TestRequireTLSPolicyFetchFailureDefers(t *testing.T) {
	for _, on := range []bool{true, false} {
		h, s, sts := rtlsSTSHarness(t, stsEnforce, nil)
		sts.fail(http.StatusInternalServerError)
		h.opt.Routing.MTASTS = on
		r := tlsReportsFor(h, "")
		h.start()
		rtlsDeferred(t, h, s, h.enqueue(rtlsMsg()), "MTA-STS policy fetch")
		rtlsFetchedOnceCounted(t, sts, r, on)
	}
}

// A policy fetched that is not a valid one is no policy (RFC 8461 §3.2,
// §5.1), as no _mta-sts record is: the MX hosts cannot be validated, and
// no later attempt reads it differently until the domain fixes it, so
// the message is returned 5.7.10 saying why rather than held for the
// queue's lifetime. Asked for once; counted only with mta_sts on.
func TestRequireTLSInvalidPolicyReturned(t *testing.T) {
	for _, on := range []bool{true, false} {
		h, s, sts := rtlsSTSHarness(t, "version: STSv1\nmode: enforce\n", nil) // no mx, no max_age
		h.opt.Routing.MTASTS = on
		r := tlsReportsFor(h, "")
		h.start()
		rc := rtlsReturned(t, h, s, h.enqueue(rtlsMsg()), "5.7.10")
		if !strings.Contains(rc.LastReply, "not DNSSEC-validated") || !strings.Contains(rc.LastReply, "no max_age") {
			t.Fatalf("mta_sts %v: reply %q does not say why", on, rc.LastReply)
		}
		rtlsFetchedOnceCounted(t, sts, r, on)
	}
}

// rtlsFetchedOnceCounted checks that the policy was fetched once and that
// its failure was counted in a TLS report only with mta_sts on.
func rtlsFetchedOnceCounted(t *testing.T, sts *stsServer, r *TLSReports, on bool) {
	t.Helper()
	if n := sts.count(); n != 1 {
		t.Fatalf("mta_sts %v: policy fetched %d times in one attempt, want once", on, n)
	}
	counted := false
	for _, rep := range todays(t, r) {
		for _, p := range rep.Policies {
			counted = counted || p.Policy.Type == "sts" || p.Summary.Failure > 0
		}
	}
	if counted != on {
		t.Fatalf("mta_sts %v: failed fetch counted in a TLS report: %v", on, counted)
	}
}
