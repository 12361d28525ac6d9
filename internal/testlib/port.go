package testlib

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// SharedPort returns a TCP port free on each of ips (loopback addresses,
// IPv4 or IPv6), for tests whose sinks pose as several MX hosts on one
// delivery port. The port is closed again before the test binds it, so it
// is chosen outside the kernel's ephemeral range (ip_local_port_range,
// which Linux applies to IPv6 too): a listener on port 0 of another test,
// in this process or a parallel package's, is given a port from that range
// and can never take this one in between, as it could when the port came
// from a listen on port 0.
func SharedPort(t testing.TB, ips ...string) int {
	t.Helper()
	lo, hi := ephemeralRange()
	from, to, ok := sharedRange(lo, hi)
	if !ok {
		t.Fatalf("testlib: no ports outside the ephemeral range %d-%d", lo, hi)
	}
	for range 200 {
		port := from + rand.IntN(to-from+1)
		if bindable(port, ips) {
			return port
		}
	}
	t.Fatalf("testlib: no port free in %d-%d, outside the ephemeral range", from, to)
	return 0
}

// minShared is the lowest port SharedPort hands out: below it are the
// well-known services and those of the registered ports a test host is
// likely to run.
const minShared = 10000

// sharedRange is the ports SharedPort picks from, [from, to], given the
// ephemeral range [lo, hi] (0, 0: unknown, Linux's default assumed): the
// ports below it, or, where the range starts low (1024 on some hosts),
// those above it. A range from the lower side is taken when it is large
// enough that 200 draws find a free port.
func sharedRange(lo, hi int) (from, to int, ok bool) {
	if lo == 0 {
		lo, hi = 32768, 60999
	}
	const enough = 1000
	if lo-minShared >= enough {
		return minShared, lo - 1, true
	}
	if from = max(hi+1, minShared); 65535-from+1 >= enough {
		return from, 65535, true
	}
	return 0, 0, false
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

// ephemeralRange is Linux's ephemeral port range, or 0, 0 where it cannot
// be read.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo > hi {
		return 0, 0
	}
	return lo, hi
}
