package dovecot

import (
	"fmt"

	"github.com/sluice-mta/sluice/internal/sockspec"
)

// ParseAddr splits a dovecot_socket setting into a network and an address
// for net.Dial: a bare PATH (Postfix's smtpd_sasl_path = private/auth) or
// any spec a milter takes, "unix:PATH" for Dovecot's auth-client unix
// socket or "inet:HOST:PORT" for an inet_listener of its auth service
// (see internal/sockspec).
func ParseAddr(spec string) (network, addr string, err error) {
	s, err := sockspec.ParsePath(spec)
	if err != nil {
		return "", "", fmt.Errorf("dovecot socket %w", err)
	}
	return s.Network, s.Address, nil
}
