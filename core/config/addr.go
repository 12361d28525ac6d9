package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkHostPort validates a "host:port" to listen on or dial. The port is a
// number (a service name such as "smtp" would be looked up, and a typo
// like "smtpx" only fails at start); minPort is 0 where the kernel may
// pick a port. The host is empty (listen on every address), an IP literal
// or a host name.
func checkHostPort(s string, minPort int) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || !allDigits(port) || n < minPort || n > 65535 {
		return fmt.Errorf("port %q must be a number from %d to 65535", port, minPort)
	}
	if host == "" {
		return nil
	}
	if strings.Contains(host, ":") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return fmt.Errorf("%q is not an IPv6 address", host)
		}
		return nil
	}
	if !validDialName(host) {
		return fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return nil
}

// validDialName is validDomain for a name Sluice only looks up to connect
// or listen, which may also hold underscores: resolvers, /etc/hosts and
// container DNS (a Docker Compose service "mail_dovecot") serve such names,
// Go's resolver and Postfix accept them. A mail domain or the hostname
// Sluice announces stays validDomain's.
func validDialName(host string) bool {
	return validDomain(strings.ReplaceAll(host, "_", "x"))
}

// CheckDialAddr validates a "host:port" Sluice connects to (a relay, a
// DNS server, a milter, a route's server): checkHostPort's rules, a port
// from 1 and a host.
func CheckDialAddr(s string) error {
	if err := checkHostPort(s, 1); err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(s); host == "" {
		return fmt.Errorf("want a host before the port")
	}
	return nil
}

// RelayIsRoute reports whether a [delivery] relay is written as an smtp:
// route, "smtp:HOST:PORT" (or "smtp:[HOST]", "smtp:HOST", see SplitRelay)
// with optional "?tls=…&authfile=…", rather than as host:port: "smtp:25"
// is port 25 of the host named smtp ("25" is no host name).
func RelayIsRoute(relay string) bool {
	rest, ok := strings.CutPrefix(relay, "smtp:")
	addr, _, _ := strings.Cut(rest, "?")
	if !ok {
		return false
	}
	_, _, err := SplitRelay(addr)
	return err == nil
}

// validDomain reports whether s is a syntactically valid host name (RFC
// 1035 section 2.3.1 as relaxed by RFC 1123 section 2.1): dot-separated
// labels of 1 to 63 letters, digits and hyphens, not starting or ending
// with a hyphen, 253 characters in all; one trailing dot is allowed. A name
// of digits and dots alone must be a valid IPv4 address ("999.1.1.1" is
// neither), as RFC 1123 section 2.1 requires of a dotted-decimal host.
func validDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	numeric := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				numeric = false
			default:
				return false
			}
		}
	}
	if numeric {
		a, err := netip.ParseAddr(s)
		return err == nil && a.Is4()
	}
	return true
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// bindKey is what two listening sockets conflict on: the port, and the host
// unless it is a wildcard, which takes the port on every address (Go
// listens dual-stack for "", 0.0.0.0 and ::). Port 0 never conflicts: the
// kernel picks a fresh port for each.
func bindKey(s string) (port int, host string, ok bool) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return 0, "", false
	}
	if port, err = strconv.Atoi(p); err != nil || port == 0 {
		return 0, "", false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.IsUnspecified() {
			host = ""
		} else {
			host = a.Unmap().String()
		}
	}
	return port, strings.ToLower(strings.TrimSuffix(host, ".")), true
}

// bindConflict reports whether a and b cannot both be listened on.
func bindConflict(a, b string) bool {
	pa, ha, ok1 := bindKey(a)
	pb, hb, ok2 := bindKey(b)
	return ok1 && ok2 && pa == pb && (ha == "" || hb == "" || ha == hb)
}
