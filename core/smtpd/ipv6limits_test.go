package smtpd

import (
	"net/netip"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// fakeConn tracks a connection from client without a socket: the only
// IPv6 loopback address is ::1, and the limits must be seen to group
// many addresses of one network.
func fakeConn(h *harness, client string) *conn {
	return &conn{srv: h.srv, info: SessionInfo{Listener: "mx", Client: netip.AddrPortFrom(netip.MustParseAddr(client), 25000)}}
}

// A client with a /64 (RFC 6177) has 2^64 addresses: counted one by one,
// it took a fresh address per connection and max_connections_per_ip never
// applied. Its addresses now count together, another /64 apart, and IPv4
// addresses alone.
func TestMaxConnectionsPerIPGroupsIPv6Networks(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxConnectionsPerIP, l.ClientIPv6PrefixLength = 2, 64 }))
	var open []*conn
	track := func(client string) bool {
		c := fakeConn(h, client)
		open = append(open, c)
		return h.srv.track(c) == nil
	}
	defer func() {
		for _, c := range open {
			h.srv.untrack(c)
		}
	}()
	if !track("2001:db8:1:2::1") || !track("2001:db8:1:2:ffff::9") {
		t.Fatal("first two connections of the /64 refused")
	}
	if track("2001:db8:1:2:abcd::1") {
		t.Error("a third address of the same /64 was let in past max_connections_per_ip = 2")
	}
	if !track("2001:db8:1:3::1") {
		t.Error("the next /64 was refused")
	}
	if !track("198.51.100.1") || !track("198.51.100.2") || !track("198.51.100.3") {
		t.Error("IPv4 addresses were grouped")
	}
	// The refused one's slot comes back when it goes.
	h.srv.untrack(open[2])
	open = append(open[:2], open[3:]...)
	h.srv.untrack(open[0])
	open = open[1:]
	if !track("2001:db8:1:2::77") {
		t.Error("a slot freed in the /64 was not given back")
	}
}

// The rate limits and the AUTH lockout count a /64 as one client too;
// client_ipv6_prefix_length = 128 counts each address alone.
func TestClientIPv6PrefixLength(t *testing.T) {
	clock := newFakeClock()
	h := start(t, withClock(clock), withLimits(func(l *config.Limits) {
		l.MessageRatePerIP = config.Rate{PerMinute: 1, Burst: 1}
		l.ConnectionRatePerIP = 1
	}))
	info := func(client string) *SessionInfo {
		return &SessionInfo{Client: netip.AddrPortFrom(netip.MustParseAddr(client), 25000)}
	}
	if r := h.srv.checkMailRate(info("2001:db8::1"), ""); r != nil {
		t.Fatalf("first message refused: %v", r)
	}
	if r := h.srv.checkMailRate(info("2001:db8::2"), ""); r == nil {
		t.Error("a second address of the /64 got its own message_rate_per_ip bucket")
	}
	c1, c2 := fakeConn(h, "2001:db8::5"), fakeConn(h, "2001:db8::6")
	if r := h.srv.track(c1); r != nil {
		t.Errorf("first connection refused: %v", r)
	}
	if r := h.srv.track(c2); r == nil {
		t.Error("a second address of the /64 got its own connection_rate_per_ip bucket")
	}
	h.srv.untrack(c1)
	h.srv.untrack(c2)

	for _, c := range []struct {
		bits     int
		in, want string
	}{
		{64, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{48, "2001:db8:1:2:3:4:5:6", "2001:db8:1::"},
		{128, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"},
		{64, "192.0.2.7", "192.0.2.7"},
	} {
		h.srv.lim().ClientIPv6PrefixLength = c.bits
		if got := h.srv.clientKey(netip.MustParseAddr(c.in)); got.String() != c.want {
			t.Errorf("clientKey(%s) at /%d = %s, want %s", c.in, c.bits, got, c.want)
		}
	}
}
