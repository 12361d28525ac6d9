package clamd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/internal/failover"
	"github.com/sluice-mta/sluice/internal/sockspec"
)

// sockets reads socket or sockets, the one or several clamd to try in
// turn (DefaultSocket when neither is set).
func (c *Config) sockets() ([]failover.Endpoint, error) {
	specs := c.Sockets
	switch {
	case c.Sockets != nil && c.Socket != "":
		return nil, fmt.Errorf("clamd: sockets = %s: socket is set too; write one of them", quoteList(c.Sockets))
	case c.Sockets != nil && len(c.Sockets) == 0:
		return nil, errors.New("clamd: sockets = []: want at least one socket")
	case c.Sockets == nil:
		if c.Socket == "" {
			c.Socket = DefaultSocket
		}
		specs = []string{c.Socket}
	}
	key := "sockets"
	if c.Sockets == nil {
		key = "socket"
	}
	socks := make([]failover.Endpoint, 0, len(specs))
	for _, spec := range specs {
		network, addr, err := parseSocket(spec)
		if err != nil {
			return nil, fmt.Errorf("clamd: %s %q: %v", key, spec, err)
		}
		for _, prev := range socks {
			if prev.Network == network && prev.Address == addr {
				return nil, fmt.Errorf("clamd: %s %q: the same clamd as %q", key, spec, prev.Spec)
			}
		}
		socks = append(socks, failover.Endpoint{Spec: spec, Network: network, Address: addr})
	}
	return socks, nil
}

// quoteList writes specs as a TOML array, for an error.
func quoteList(specs []string) string {
	q := make([]string, len(specs))
	for i, s := range specs {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// parseSocket reads the socket setting with the parser of milter and
// Dovecot sockets (internal/sockspec: "unix:PATH", "local:PATH",
// "inet:HOST:PORT", "tcp:HOST:PORT", "inet:PORT@HOST"), and also takes
// clamd's own ways of writing one: a bare absolute PATH, as clamd.conf's
// LocalSocket, and a bare "HOST:PORT", as Haraka's clamd_socket.
func parseSocket(spec string) (network, addr string, err error) {
	var s sockspec.Spec
	bare := false
	switch kind, _, _ := strings.Cut(spec, ":"); {
	case strings.HasPrefix(spec, "/"):
		s, err = sockspec.ParsePath(spec)
	case kind == "unix" || kind == "local" || kind == "inet" || kind == "inet6" || kind == "tcp":
		s, err = sockspec.Parse(spec)
	default:
		bare = true
		s, err = sockspec.Parse("tcp:" + spec)
	}
	if err != nil {
		// The spec itself is named by the caller, with the key.
		var se *sockspec.Error
		if !errors.As(err, &se) {
			return "", "", err
		}
		form := se.Form
		if bare {
			form = "unix:PATH, /PATH, HOST:PORT or inet:HOST:PORT"
		}
		if se.Reason == "" {
			return "", "", fmt.Errorf("want %s", form)
		}
		return "", "", fmt.Errorf("want %s: %s", form, se.Reason)
	}
	return s.Network, s.Address, nil
}
