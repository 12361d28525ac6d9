package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// reuseCheck delivers first (whose hop's certificate is valid) and waits
// for its session to be pooled, then sends second, whose hop is another
// name at the same address, and wants it deferred for the certificate
// over a handshake of its own; a third message like first shows the
// verified session was pooled all along.
func reuseCheck(t *testing.T, h *harness, s *sink, first, second func() *envelope.Message, rcpt2 string) {
	t.Helper()
	id1 := h.enqueue(first())
	if m := h.recorded(id1); !anyDelivered(m) {
		t.Fatalf("first message not delivered: %+v", m.Rcpts)
	}
	id2 := h.enqueue(second())
	if r := rcpt(h.recorded(id2), rcpt2); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "certificate") {
		t.Fatalf("%s: %+v, want deferred for the certificate", rcpt2, r)
	}
	if n, c := len(s.messages()), s.connections(); n != 1 || c != 2 {
		t.Fatalf("%d messages over %d connections, want 1 over 2: the session verified for another name was reused", n, c)
	}
	id3 := h.enqueue(first())
	if m := h.recorded(id3); !anyDelivered(m) {
		t.Fatalf("third message not delivered: %+v", m.Rcpts)
	}
	if c := s.connections(); c != 2 {
		t.Errorf("%d connections, want the first session reused for its own name", c)
	}
}

// A session verified for mx-a.test is not reused for mx-b.test at the
// same address: tls=verify checks the certificate against the host name
// (RFC 6125 §6), so a server holding a certificate for mx-a.test alone
// must fail the check for mx-b.test on a handshake of its own.
func TestVerifiedSessionNotReusedForAnotherName(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, "mx-a.test. A 127.0.0.1", "mx-b.test. A 127.0.0.1")
	h.opt.Routing.RootCAs = ca.Pool()
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx-a.test")})
	h.start()
	reuseCheck(t, h, s,
		func() *envelope.Message { return withRoutes("s@origin.test", "r@a.test", "smtp:mx-a.test?tls=verify") },
		func() *envelope.Message { return withRoutes("s@origin.test", "r@b.test", "smtp:mx-b.test?tls=verify") },
		"r@b.test")
}

// The same under MTA-STS enforce, whose point is that DNS is not
// trusted (RFC 8461 §4.2): dest.test's MX resolving to a server holding
// a valid certificate for another name must not inherit that name's
// verified session.
func TestMTASTSEnforceDoesNotReuseSessionVerifiedForAnotherName(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, append([]string{"a.test. MX 10 mx-a.test.", "mx-a.test. A 127.0.0.1"}, stsZone...)...)
	startSTS(t, h, ca, stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx-a.test")})
	h.start()
	reuseCheck(t, h, s,
		func() *envelope.Message { return withRoutes("s@origin.test", "r@a.test", "mx?tls=verify") },
		func() *envelope.Message { return msg("s@origin.test", "r@dest.test") },
		"r@dest.test")
}

// The pool key names the host whenever the policy checks the
// certificate against it, and only then.
func TestPoolKeyNamesTheVerifiedHost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tls   tlsPolicy
		names bool
	}{
		{"opportunistic", tlsPolicy{}, false},
		{"required", tlsPolicy{mode: TLSRequired}, false},
		{"verify", tlsPolicy{mode: TLSVerify}, true},
		{"verify with ca", tlsPolicy{mode: TLSVerify, caFile: "/ca.pem"}, true},
		{"mta-sts enforce", tlsPolicy{mode: TLSVerify, sts: "enforce"}, true},
		{"mta-sts testing", tlsPolicy{report: true, sts: "testing"}, true},
	} {
		a := poolKey(hop{host: "mx-a.test", tls: tc.tls}, "192.0.2.7:25")
		b := poolKey(hop{host: "MX-B.test.", tls: tc.tls}, "192.0.2.7:25")
		if (a != b) != tc.names {
			t.Errorf("%s: keys %q and %q, want them to differ: %v", tc.name, a, b, tc.names)
		}
		if c := poolKey(hop{host: "MX-A.test.", tls: tc.tls}, "192.0.2.7:25"); c != a {
			t.Errorf("%s: one name spelt two ways keys %q and %q", tc.name, a, c)
		}
	}
}
