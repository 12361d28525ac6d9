package delivery

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// rtlsSetup points the agent at a validating resolver for dest.test (MX
// mx.dest.test on 127.0.0.1; insecure lists names without the AD bit),
// with DANE off, roots trusting ca, and a sink there serving cert.
func rtlsSetup(t *testing.T, ca *testlib.CA, cert tls.Certificate, requireTLS bool, insecure ...string) (*harness, *sink) {
	h := newHarness(t)
	// origin.test's mail (the reports) goes to the same server.
	h.useValidatingDNS(insecure, nil, append(daneZone, "origin.test. MX 10 mx.dest.test.")...)
	h.opt.Routing.DANE = false // the MX lookup is validated for REQUIRETLS alone
	h.opt.Routing.RootCAs = ca.Pool()
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}, requireTLS: requireTLS})
	h.start()
	return h, s
}

// rtlsMsg is a message to r@dest.test received with REQUIRETLS.
func rtlsMsg() *envelope.Message {
	m := msg("s@origin.test", "r@dest.test")
	m.RequireTLS = true
	return m
}

// RFC 8689 §4.2.1: a DNSSEC-validated MX, a certificate valid for its
// name and REQUIRETLS offered: the message goes with MAIL ... REQUIRETLS.
func TestRequireTLSDelivered(t *testing.T) {
	ca := testlib.NewCA(t)
	h, s := rtlsSetup(t, ca, ca.Issue("mx.dest.test"), true)
	id := h.enqueue(rtlsMsg())
	got := waitMsg(t, s)
	if !got.tls || !got.opts.RequireTLS {
		t.Fatalf("tls %v, MAIL REQUIRETLS %v; want both", got.tls, got.opts.RequireTLS)
	}
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", r)
	}
}

// rtlsReturned checks that id's recipient failed with the enhanced code
// (RFC 8689 §4.2.2) and that nothing reached s.
func rtlsReturned(t *testing.T, h *harness, s *sink, id, code string) envelope.Recipient {
	t.Helper()
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "550 "+code+" ") {
		t.Fatalf("%+v, want failed with 550 %s", r, code)
	}
	for _, m := range s.messages() {
		if slices.Contains(m.rcpts, "r@dest.test") {
			t.Fatalf("sent: %+v", m)
		}
	}
	return r
}

// A next hop without REQUIRETLS: returned with 5.7.30, never sent.
func TestRequireTLSWithoutExtensionReturned(t *testing.T) {
	ca := testlib.NewCA(t)
	h, s := rtlsSetup(t, ca, ca.Issue("mx.dest.test"), false)
	id := h.enqueue(rtlsMsg())
	rtlsReturned(t, h, s, id, "5.7.30")
	// A message without REQUIRETLS goes there as before.
	id = h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); got.opts.RequireTLS {
		t.Fatal("MAIL carried REQUIRETLS for a message without it")
	}
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", r)
	}
}

// A certificate that does not verify (self-signed): returned with
// 5.7.10, not sent in the clear either.
func TestRequireTLSUnverifiedCertReturned(t *testing.T) {
	ca := testlib.NewCA(t)
	h, s := rtlsSetup(t, ca, testlib.SelfSigned(t, "mx.dest.test"), true)
	rtlsReturned(t, h, s, h.enqueue(rtlsMsg()), "5.7.10")
}

// An MX RRset without the AD bit and no MTA-STS policy: returned with
// 5.7.10, the reply saying why.
func TestRequireTLSInsecureMXReturned(t *testing.T) {
	ca := testlib.NewCA(t)
	h, s := rtlsSetup(t, ca, ca.Issue("mx.dest.test"), true, "dest.test")
	if r := rtlsReturned(t, h, s, h.enqueue(rtlsMsg()), "5.7.10"); !strings.Contains(r.LastReply, "not DNSSEC-validated") {
		t.Fatalf("reply %q does not say why", r.LastReply)
	}
}

// RFC 8689 §5: the report on a REQUIRETLS message returns none of it,
// header included, and goes without REQUIRETLS so that it reaches the
// sender.
func TestRequireTLSReportRedacted(t *testing.T) {
	ca := testlib.NewCA(t)
	h, s := rtlsSetup(t, ca, ca.Issue("mx.dest.test"), false)
	id := h.enqueue(rtlsMsg())
	rtlsReturned(t, h, s, id, "5.7.30")
	dsn := waitMsg(t, s)
	if !slices.Equal(dsn.rcpts, []string{"s@origin.test"}) || dsn.opts.RequireTLS {
		t.Fatalf("report to %v, MAIL REQUIRETLS %v", dsn.rcpts, dsn.opts.RequireTLS)
	}
	for _, leak := range []string{"Subject: test", "Hello.", "text/rfc822-headers", "message/rfc822"} {
		if strings.Contains(dsn.body, leak) {
			t.Errorf("report holds %q:\n%s", leak, dsn.body)
		}
	}
	if !strings.Contains(dsn.body, "5.7.30") || !strings.Contains(dsn.body, "REQUIRETLS") {
		t.Errorf("report does not say why:\n%s", dsn.body)
	}
}
