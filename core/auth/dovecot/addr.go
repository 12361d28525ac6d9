package dovecot

import (
	"fmt"
	"net"
	"strings"
)

// ParseAddr splits a dovecot_socket setting into a network and an address
// for net.Dial: "unix:PATH" or a bare PATH is Dovecot's auth-client unix
// socket (Postfix's smtpd_sasl_path = private/auth is such a path);
// "inet:HOST:PORT" (Postfix's form) or "tcp:HOST:PORT" is an inet_listener
// of Dovecot's auth service.
func ParseAddr(spec string) (network, addr string, err error) {
	bad := func() (string, string, error) {
		return "", "", fmt.Errorf("dovecot socket %q: want a unix socket PATH, unix:PATH, inet:HOST:PORT or tcp:HOST:PORT", spec)
	}
	switch {
	case strings.HasPrefix(spec, "inet:") || strings.HasPrefix(spec, "tcp:"):
		_, hostport, _ := strings.Cut(spec, ":")
		host, port, err := net.SplitHostPort(hostport)
		if err != nil || host == "" || port == "" {
			return bad()
		}
		return "tcp", hostport, nil
	case strings.HasPrefix(spec, "unix:"):
		spec = strings.TrimPrefix(spec, "unix:")
	}
	if spec == "" || strings.ContainsAny(spec, "\x00\n") {
		return bad()
	}
	return "unix", spec, nil
}
