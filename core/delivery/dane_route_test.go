package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// useDANERelay points the agent at a validating zone holding relay.test
// (127.0.0.1) and rrs, with [delivery] relay = relay: a route's tls=dane
// needs no [delivery] dane, which stays off.
func (h *harness) useDANERelay(relay string, insecure []string, rrs ...string) {
	h.useValidatingDNS(insecure, nil, append([]string{"relay.test. A 127.0.0.1"}, rrs...)...)
	h.opt.Routing.DANE = false
	h.opt.Config.Relay = relay
}

// A relay with tls=dane and a secure DANE-EE(3) SPKI(1) SHA2-256(1)
// record matching its key: delivered over TLS authenticated by it, as
// Postfix's dane level does for a relayhost, though [delivery] dane is
// off and the certificate names another host.
func TestDANERelayMatchDelivers(t *testing.T) {
	h := newHarness(t)
	logs := recordLog(h)
	cert := testlib.SelfSigned(t, "other.test")
	h.useDANERelay("smtp:relay.test?tls=dane", nil, h.tlsaRRAt("relay.test", 3, 1, leafOf(t, cert)))
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	h.deliveredOverTLS(t, s, logs, `tls="TLS1.3 dane-verified"`)
}

// A relay with tls=dane whose secure TLSA record names another key:
// deferred 4.7.5, nothing sent, no plaintext retry (RFC 7672 §2.2).
func TestDANERelayMismatchDefers(t *testing.T) {
	h := newHarness(t)
	h.useDANERelay("smtp:relay.test?tls=dane", nil, h.tlsaRRAt("relay.test", 3, 1, leafOf(t, testlib.SelfSigned(t, "relay.test"))))
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "relay.test")}}})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 Server certificate not trusted") {
		t.Fatalf("%+v, want deferred 4.7.5 for the certificate", r)
	}
	if n, c := len(s.messages()), s.connections(); n != 0 || c != 1 {
		t.Fatalf("%d messages over %d connections: DANE must not fall back to plaintext", n, c)
	}
}

// tls=dane on a relay without secure TLSA records (none, or the address
// or TLSA answer insecure): opportunistic STARTTLS, as Postfix's dane
// level degrades to may; a mismatching insecure record is not used.
func TestDANERelayWithoutSecureTLSAIsOpportunistic(t *testing.T) {
	for name, insecure := range map[string][]string{
		"no TLSA":       nil,
		"insecure A":    {"relay.test"},
		"insecure TLSA": {"_PORT._tcp.relay.test"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			logs := recordLog(h)
			var rrs []string
			if name != "no TLSA" {
				rrs = append(rrs, h.tlsaRRAt("relay.test", 3, 1, leafOf(t, testlib.SelfSigned(t, "relay.test"))))
			}
			for i := range insecure {
				insecure[i] = strings.ReplaceAll(insecure[i], "PORT", fmt.Sprint(h.port))
			}
			h.useDANERelay("smtp:relay.test?tls=dane", insecure, rrs...)
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "sink.test")}}})
			h.deliveredOverTLS(t, s, logs, "tls=TLS1.3 ")
		})
	}
}

// tls=dane-only where DANE does not apply (no TLSA records, the address
// answer insecure, an IP literal, or only PKIX usages): deferred 4.7.5,
// no connection made, as Postfix's dane-only.
func TestDANEOnlyRelayWithoutTLSADefers(t *testing.T) {
	for name, tc := range map[string]struct {
		relay    string
		insecure []string
		pkix     bool
		why      string
	}{
		"no TLSA":    {"smtp:relay.test?tls=dane-only", nil, false, "no DNSSEC-secure TLSA records"},
		"insecure A": {"smtp:relay.test?tls=dane-only", []string{"relay.test"}, false, "not DNSSEC-secure"},
		"IP literal": {"smtp:[127.0.0.1]?tls=dane-only", nil, false, "not DNSSEC-secure"},
		"PKIX-EE":    {"smtp:relay.test?tls=dane-only", nil, true, "TLSA records unusable"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			var rrs []string
			if tc.pkix {
				rrs = append(rrs, h.tlsaRRAt("relay.test", 1, 1, leafOf(t, testlib.SelfSigned(t, "relay.test"))))
			}
			h.useDANERelay(tc.relay, tc.insecure, rrs...)
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "relay.test")}}})
			h.start()
			id := h.enqueue(msg("s@origin.test", "r@dest.test"))
			r := rcpt(h.recorded(id), "r@dest.test")
			if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 DANE is required") || !strings.Contains(r.LastReply, tc.why) {
				t.Fatalf("%+v, want deferred 4.7.5 DANE is required ... %s", r, tc.why)
			}
			if c := s.connections(); c != 0 {
				t.Fatalf("%d connections under dane-only without DANE", c)
			}
		})
	}
}

// DANE-TA(2) on an smtp: route: the certificate must be valid for the
// TLSA base domain, the route's host or, when that is a CNAME whose
// target has the TLSA records, the target; neither the recipient domain
// nor the name before the CNAME is a reference identifier here, as
// Postfix's dane_init() adds those only for an MX destination.
func TestDANERouteTrustAnchorNames(t *testing.T) {
	inter := testlib.NewCA(t).Intermediate()
	for _, tc := range []struct {
		name, host string // the certificate's name, the route's host
		deliver    bool
	}{
		{"relay.test", "relay.test", true},
		{"dest.test", "relay.test", false},
		{"host.provider.test", "alias.test", true},
		{"alias.test", "alias.test", false},
	} {
		t.Run(tc.name+" at "+tc.host, func(t *testing.T) {
			h := newHarness(t)
			cert := inter.Issue(tc.name)
			ta, err := x509.ParseCertificate(cert.Certificate[1])
			if err != nil {
				t.Fatal(err)
			}
			h.useDANERelay("", nil, "alias.test. CNAME host.provider.test.", "host.provider.test. A 127.0.0.1",
				h.tlsaRRAt("relay.test", 2, 1, ta), h.tlsaRRAt("host.provider.test", 2, 1, ta))
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
			h.start()
			id := h.enqueue(withRoutes("s@origin.test", "r@dest.test", "smtp:"+tc.host+"?tls=dane"))
			r := rcpt(h.recorded(id), "r@dest.test")
			switch {
			case tc.deliver && r.Status != envelope.RcptDelivered:
				t.Fatalf("%+v, want delivered", r)
			case !tc.deliver && (r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 ")):
				t.Fatalf("%+v, want deferred 4.7.5 for the name", r)
			case !tc.deliver && len(s.messages()) != 0:
				t.Fatal("sent to a server DANE did not authenticate")
			}
		})
	}
}

// tls=dane with authfile and no TLSA records falls back to required TLS,
// not to plaintext: a server without STARTTLS gets no password and no
// mail.
func TestDANERelayWithAuthFallsBackToRequired(t *testing.T) {
	h := newHarness(t)
	auth := filepath.Join(t.TempDir(), "relay.auth")
	if err := os.WriteFile(auth, []byte("user:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.useDANERelay("smtp:relay.test?tls=dane&authfile="+auth, nil)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if want := fmt.Sprintf("451 4.7.4 TLS is required, but was not offered by host relay.test[127.0.0.1]:%d", h.port); r.Status != envelope.RcptPending || r.LastReply != want {
		t.Fatalf("%+v, want deferred with %q", r, want)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent in plaintext", n)
	}
}
