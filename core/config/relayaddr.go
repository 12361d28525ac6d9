package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// SplitRelay parses a smarthost as Postfix's relayhost and transport
// next hops write it: "host:port", "[host]:port", "[host]" or "host".
// Port is 0 when none is written: the caller then uses [delivery] port
// (25 unless a test moves it), Postfix's default for relayhost. An IPv6
// address without a port needs its brackets ("[::1]"). Postfix's
// brackets mean "no MX look-up"; Sluice never looks up MX for a
// smarthost, so "[host]" and "host" are the same host.
func SplitRelay(s string) (host string, port int, err error) {
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	case !strings.Contains(s, ":"):
		host = s
	default:
		if err := CheckDialAddr(s); err != nil {
			return "", 0, err
		}
		h, p, _ := net.SplitHostPort(s)
		port, _ = strconv.Atoi(p)
		return h, port, nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		return host, 0, nil
	}
	if !validDialName(host) {
		return "", 0, fmt.Errorf("%q is neither an IP address nor a host name (want host, [host], host:port or [host]:port)", host)
	}
	return host, 0, nil
}

// JoinRelay is SplitRelay's inverse in one canonical spelling, so that
// "[relay.example]" and "relay.example" name one destination: "host:port",
// or without a port the bare host ("[v6]" for an IPv6 address).
func JoinRelay(host string, port int) string {
	switch {
	case port != 0:
		return net.JoinHostPort(host, strconv.Itoa(port))
	case strings.Contains(host, ":"):
		return "[" + host + "]"
	}
	return host
}
