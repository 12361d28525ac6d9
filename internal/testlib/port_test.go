package testlib

import (
	"net"
	"strconv"
	"testing"
)

// TestSharedPortBelowEphemeral: the port is outside the ephemeral range,
// where a listen on port 0 cannot land, and free on every address asked.
func TestSharedPortBelowEphemeral(t *testing.T) {
	low := ephemeralLow()
	if low == 0 {
		t.Skip("no /proc/sys/net/ipv4/ip_local_port_range")
	}
	for range 20 {
		p := SharedPort(t, "127.0.0.1", "127.0.0.2")
		if p < 10000 || p >= low {
			t.Fatalf("port %d, want in [10000, %d)", p, low)
		}
		for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				t.Fatalf("port %d not free on %s: %v", p, ip, err)
			}
			l.Close()
		}
	}
}
