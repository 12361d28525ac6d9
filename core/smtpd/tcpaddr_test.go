package smtpd

import (
	"net"
	"testing"
)

func TestTCPAddrPortUnmapsAndDropsZone(t *testing.T) {
	for _, tc := range []struct {
		in   net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 25, Zone: "eth0"}, "[fe80::1]:25"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 2525}, "192.0.2.7:2525"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 587}, "[2001:db8::7]:587"},
		{&net.UnixAddr{Name: "/run/x", Net: "unix"}, "invalid AddrPort"},
	} {
		if got := tcpAddrPort(tc.in).String(); got != tc.want {
			t.Errorf("tcpAddrPort(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
