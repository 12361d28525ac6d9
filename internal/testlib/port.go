package testlib

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// SharedPort returns a TCP port free on each of ips (loopback addresses),
// for tests whose sinks pose as several MX hosts on one delivery port.
// The port is closed again before the test binds it, so it is chosen
// below the kernel's ephemeral range (ip_local_port_range): a listener
// on port 0 of another test, in this process or a parallel package's,
// is given a port from that range and can never take this one in
// between, as it could when the port came from a listen on port 0.
func SharedPort(t testing.TB, ips ...string) int {
	t.Helper()
	low := ephemeralLow()
	if low <= 10000 {
		low = 32768
	}
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		if bindable(port, ips) {
			return port
		}
	}
	t.Fatal("testlib: no port free below the ephemeral range")
	return 0
}

// bindable reports whether port can be listened on at each of ips.
func bindable(port int, ips []string) bool {
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	for _, ip := range ips {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
		if err != nil {
			return false
		}
		open = append(open, l)
	}
	return true
}

// ephemeralLow is the first port of Linux's ephemeral range, or 0 where
// it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}
