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
	return failover.Parse("clamd", failover.Keys{One: "socket", Many: "sockets"}, c.Socket, c.Sockets, DefaultSocket, parseSocket)
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
