package udptcp

import (
	"net"
	"net/netip"
	"testing"
)

func TestListenSharesOnePort(t *testing.T) {
	pc, ln, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	u, tc := pc.LocalAddr().(*net.UDPAddr), ln.Addr().(*net.TCPAddr)
	if u.Port == 0 || u.Port != tc.Port || !u.IP.Equal(tc.IP) {
		t.Fatalf("udp %v, tcp %v: want one address and port", u, tc)
	}
	// The port is taken now: binding it again fails instead of retrying
	// elsewhere.
	if _, _, err := Listen(netip.MustParseAddrPort(u.String())); err == nil {
		t.Fatal("a taken port was bound again")
	}
}
