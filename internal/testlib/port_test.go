package testlib

import (
	"net"
	"strconv"
	"testing"
)

// TestSharedPortOutsideEphemeral: the port is outside the ephemeral range,
// where a listen on port 0 cannot land, and free on every address asked,
// IPv6 loopback included where the host has it.
func TestSharedPortOutsideEphemeral(t *testing.T) {
	lo, hi := ephemeralRange()
	if lo == 0 {
		t.Skip("no /proc/sys/net/ipv4/ip_local_port_range")
	}
	ips := []string{"127.0.0.1", "127.0.0.2"}
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		l.Close()
		ips = append(ips, "::1")
	}
	for range 20 {
		p := SharedPort(t, ips...)
		if p < minShared || p >= lo && p <= hi {
			t.Fatalf("port %d, want at least %d and outside %d-%d", p, minShared, lo, hi)
		}
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				t.Fatalf("port %d not free on %s: %v", p, ip, err)
			}
			l.Close()
		}
	}
}

// TestSharedRange: the ports chosen from lie outside the ephemeral range
// whatever it is: below it (Linux's default 32768-60999), above it where
// it starts low (1024-60999, which 10000-32767 fell in), none where it
// leaves no room.
func TestSharedRange(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, from, to int
		ok               bool
	}{
		{32768, 60999, 10000, 32767, true},
		{0, 0, 10000, 32767, true},
		{1024, 60999, 61000, 65535, true},
		{1024, 65000, 0, 0, false},
		{10500, 60999, 61000, 65535, true},
		{49152, 65535, 10000, 49151, true},
	} {
		from, to, ok := sharedRange(tc.lo, tc.hi)
		if from != tc.from || to != tc.to || ok != tc.ok {
			t.Errorf("sharedRange(%d, %d) = %d, %d, %v; want %d, %d, %v", tc.lo, tc.hi, from, to, ok, tc.from, tc.to, tc.ok)
		}
	}
}
