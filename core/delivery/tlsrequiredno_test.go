package delivery

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// noMsg is a message to r@dest.test whose header said "TLS-Required: No".
func noMsg() *envelope.Message {
	m := msg("s@origin.test", "r@dest.test")
	m.TLSRequiredNo = true
	return m
}

// deferredNotSent checks that id's recipient waits and that s has only
// the sent messages it had.
func deferredNotSent(t *testing.T, h *harness, s *sink, id string, sent int) {
	t.Helper()
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptPending {
		t.Fatalf("%+v, want deferred", r)
	}
	if n := len(s.messages()); n != sent {
		t.Fatalf("%d messages sent, want %d", n, sent)
	}
}

// RFC 8689 §5: under an MTA-STS enforce policy, a host whose certificate
// does not verify gets a "TLS-Required: No" message over TLS all the
// same, the policy counted as failed in the TLS report and named ignored
// in the log and trace; the message without the field waits.
func TestTLSRequiredNoIgnoresMTASTS(t *testing.T) {
	h := newHarness(t)
	h.opt.Config.TLSRequiredHeader = true
	ca := testlib.NewCA(t)
	logs := recordLog(h)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsEnforce)
	r := tlsReportsFor(h, "")
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	id := h.enqueue(noMsg())
	if got := waitMsg(t, s); !got.tls {
		t.Fatal("want opportunistic TLS")
	}
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", r)
	}
	res := onlyResult(t, todays(t, r))
	if res.Policy.Type != "sts" || res.Summary.Failure != 1 || len(res.FailureDetails) != 1 || res.FailureDetails[0].ResultType != "certificate-host-mismatch" {
		t.Errorf("%+v, want one certificate-host-mismatch under the sts policy", res)
	}
	if l := logs.String(); !strings.Contains(l, "ignored for TLS-Required: No") {
		t.Errorf("the log does not say the policy was ignored:\n%s", l)
	}
	if evs := h.deliveries(id); len(evs) != 1 || !strings.Contains(evs[0].MTASTS, "ignored for TLS-Required: No") {
		t.Errorf("trace: %+v", evs)
	}
	deferredNotSent(t, h, s, h.enqueue(msg("s@origin.test", "r@dest.test")), 1)
}

// Without STARTTLS, and at an MX host the enforce policy does not list,
// the message goes in plaintext, as without a policy.
func TestTLSRequiredNoPlaintextAndUnlistedMX(t *testing.T) {
	h := newHarness(t)
	h.opt.Config.TLSRequiredHeader = true
	h.useDNS(nil, "dest.test. MX 10 rogue.evil.test.", "rogue.evil.test. A 127.0.0.1", `_mta-sts.dest.test. TXT "v=STSv1; id=1"`)
	startSTS(t, h, testlib.NewCA(t), stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.start()
	id := h.enqueue(noMsg())
	if got := waitMsg(t, s); got.tls {
		t.Fatal("TLS without STARTTLS?")
	}
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", r)
	}
}

// The field is ignored with REQUIRETLS (RFC 8689 §5: MUST be ignored)
// and with tls_required_header = false: the enforce policy holds.
func TestTLSRequiredNoIgnored(t *testing.T) {
	for _, tc := range []struct {
		name       string
		header     bool
		requireTLS bool
	}{
		{"tls_required_header=false", false, false},
		{"REQUIRETLS", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.opt.Config.TLSRequiredHeader = tc.header
			ca := testlib.NewCA(t)
			h.useDNS(nil, stsZone...)
			startSTS(t, h, ca, stsEnforce)
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test"), requireTLS: true})
			h.start()
			m := noMsg()
			m.RequireTLS = tc.requireTLS
			id := h.enqueue(m)
			if r := rcpt(h.recorded(id), "r@dest.test"); r.Status == envelope.RcptDelivered {
				t.Fatalf("%+v, want not delivered", r)
			}
			if n := len(s.messages()); n != 0 {
				t.Fatalf("%d messages sent", n)
			}
		})
	}
}

// The operator's own policy stays: a relay with tls=required and a
// server without STARTTLS defers the message.
func TestTLSRequiredNoKeepsRoutePolicy(t *testing.T) {
	h := newHarness(t)
	h.opt.Config.TLSRequiredHeader = true
	h.opt.Config.Relay = fmt.Sprintf("smtp:127.0.0.1:%d?tls=required", h.port)
	h.useDNS(nil)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.start()
	id := h.enqueue(noMsg())
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.4 ") {
		t.Fatalf("%+v, want deferred 4.7.4", r)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent in plaintext", n)
	}
}

// DANE: a certificate matching none of the TLSA records, and a failed
// TLSA lookup, do not keep the message back.
func TestTLSRequiredNoIgnoresDANE(t *testing.T) {
	for _, tc := range []string{"mismatch", "lookup failure"} {
		t.Run(tc, func(t *testing.T) {
			h := newHarness(t)
			h.opt.Config.TLSRequiredHeader = true
			cert := testlib.SelfSigned(t, "mx.dest.test")
			if tc == "mismatch" {
				other := testlib.SelfSigned(t, "mx.dest.test")
				h.useValidatingDNS(nil, nil, append(daneZone, h.tlsaRR(3, 1, leafOf(t, other)))...)
			} else {
				h.useValidatingDNS(nil, []string{fmt.Sprintf("_%d._tcp.mx.dest.test", h.port)}, daneZone...)
			}
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
			h.start()
			id := h.enqueue(noMsg())
			if got := waitMsg(t, s); !got.tls {
				t.Fatal("want opportunistic TLS")
			}
			if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
				t.Fatalf("%+v, want delivered", r)
			}
			deferredNotSent(t, h, s, h.enqueue(msg("s@origin.test", "r@dest.test")), 1)
		})
	}
}
