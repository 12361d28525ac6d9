package delivery

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// needIPv6Loopback skips a test on a machine without ::1.
func needIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

// familyZone: an MX host with an A and an AAAA record, hosts with only
// one of them, and one with neither.
var familyZone = []string{
	"dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.1", "mx.dest.test. AAAA ::1",
	"v6only.test. AAAA ::1", "v4only.test. A 127.0.0.1", "none.test. TXT \"no address\"",
}

// address_family = "any" (the default): A, then AAAA; with nothing on
// 127.0.0.1 the message goes to ::1.
func TestAddressFamilyAnyDialsBoth(t *testing.T) {
	needIPv6Loopback(t)
	h := newHarness(t)
	h.useDNS(nil, familyZone...)
	s6 := startSink(t, net.JoinHostPort("::1", strconv.Itoa(h.port)), sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered || r.RemoteMTA != "mx.dest.test" {
		t.Errorf("%+v, want delivered over IPv6", r)
	}
	if n := len(s6.messages()); n != 1 {
		t.Errorf("%d messages on ::1, want 1", n)
	}
}

// address_family = "ipv4" dials A addresses only: the ::1 server never
// gets a connection. A host, address literal or smtp: route with only
// IPv6 addresses is deferred 4.4.4 naming why, not bounced (the
// operator may change the setting); a host with no address at all is
// still the permanent failure it always was.
func TestAddressFamilyIPv4(t *testing.T) {
	needIPv6Loopback(t)
	h := newHarness(t)
	h.useDNS(nil, familyZone...)
	s6 := startSink(t, net.JoinHostPort("::1", strconv.Itoa(h.port)), sinkOptions{})
	h.opt.Config.AddressFamily = "ipv4"
	h.start()
	id := h.enqueue(withRoutes("s@origin.test", "r@dest.test", "", "q@v6only.test", "", "l@[IPv6:::1]", "",
		"s@smart.test", "smtp:"+s6.addr, "n@none.test", ""))
	rec := h.recorded(id)
	for addr, want := range map[string]string{
		"r@dest.test":   "451 4.4.1 ", // 127.0.0.1 refused; ::1 not tried
		"q@v6only.test": "451 4.4.4 No IPv4 address to deliver to, will retry (v6only.test has only IPv6 addresses",
		"l@[IPv6:::1]":  "451 4.4.4 No IPv4 address to deliver to, will retry (::1 is an IPv6 address",
		"s@smart.test":  "451 4.4.4 No IPv4 address",
		"n@none.test":   "550 5.1.2 ",
	} {
		r := rcpt(rec, addr)
		if !strings.HasPrefix(r.LastReply, want) {
			t.Errorf("%s: %q, want %q…", addr, r.LastReply, want)
		}
		if wantStatus := envelope.RcptPending; addr != "n@none.test" && r.Status != wantStatus {
			t.Errorf("%s: %+v, want deferred", addr, r)
		}
	}
	if n := s6.connections(); n != 0 {
		t.Errorf("%d connections to ::1, want none", n)
	}
}

// address_family = "ipv6" dials AAAA addresses only: the server on
// 127.0.0.1, which "any" would try first, never gets a connection; an
// IPv4-only host or literal is deferred. LMTP is exempt, as from
// source_address: a mailbox server on 127.0.0.1 still gets its mail.
func TestAddressFamilyIPv6(t *testing.T) {
	needIPv6Loopback(t)
	h := newHarness(t)
	h.useDNS(nil, familyZone...)
	s4 := h.sinkAt("127.0.0.1", sinkOptions{})
	s6 := startSink(t, net.JoinHostPort("::1", strconv.Itoa(h.port)), sinkOptions{})
	lmtp := startLMTP(t, "tcp", "127.0.0.1:0", &lmtpServer{reply: func(string) error { return nil }})
	h.opt.Config.AddressFamily = "ipv6"
	h.start()
	id := h.enqueue(withRoutes("s@origin.test", "r@dest.test", "", "q@v4only.test", "", "l@[127.0.0.1]", "",
		"u@mail.test", "lmtp:tcp:"+lmtp.addr))
	rec := h.recorded(id)
	for addr, want := range map[string]string{
		"q@v4only.test": "451 4.4.4 No IPv6 address to deliver to, will retry (v4only.test has only IPv4 addresses",
		"l@[127.0.0.1]": "451 4.4.4 No IPv6 address to deliver to, will retry (127.0.0.1 is an IPv4 address",
	} {
		if r := rcpt(rec, addr); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, want) {
			t.Errorf("%s: %+v, want %q…", addr, r, want)
		}
	}
	if r := rcpt(rec, "r@dest.test"); r.Status != envelope.RcptDelivered || r.RemoteMTA != "mx.dest.test" {
		t.Errorf("r@dest.test: %+v, want delivered over IPv6", r)
	}
	if r := rcpt(rec, "u@mail.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("u@mail.test: %+v, want delivered over LMTP", r)
	}
	if n := s4.connections(); n != 0 {
		t.Errorf("%d connections to 127.0.0.1, want none", n)
	}
	if n := len(s6.messages()); n != 1 {
		t.Errorf("%d messages on ::1, want 1", n)
	}
}

// A route plugin's probe of an smtp: route dials the family the daemon
// hands it (EnvAddressFamily): under ipv6 a server on 127.0.0.1 is not
// asked.
func TestProbeFollowsAddressFamily(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", sinkOptions{})
	t.Setenv(EnvAddressFamily, "ipv6")
	if err := Probe(t.Context(), "smtp:"+s.addr, "mta.test", "alice@mail.test", waitLimit); err == nil {
		t.Error("probe under ipv6 reached an IPv4 server")
	}
	if n := s.connections(); n != 0 {
		t.Errorf("%d connections under ipv6, want none", n)
	}
	t.Setenv(EnvAddressFamily, "ipv4")
	if err := Probe(t.Context(), "smtp:"+s.addr, "mta.test", "alice@mail.test", waitLimit); err != nil {
		t.Errorf("probe under ipv4: %v", err)
	}
}
