package milter

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// parseAddr turns a milter socket spec into a network and address for
// net.Dial. It accepts Sluice's forms, "tcp:HOST:PORT" and "unix:PATH",
// Postfix's "inet:HOST:PORT" (MILTER_README, "Configuring Postfix"), and
// the Sendmail ones milters document themselves with, "inet:PORT@HOST",
// "inet6:PORT@HOST" and "local:PATH". The config (core/config) accepts
// the same forms and makes a relative PATH relative to the config file.
func parseAddr(spec string) (network, address string, err error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("milter address %q: want tcp:HOST:PORT, unix:PATH, inet:PORT@HOST or local:PATH", spec)
	}
	switch kind {
	case "unix", "local":
		return "unix", rest, nil
	case "inet", "inet6":
		if port, host, ok := strings.Cut(rest, "@"); ok {
			rest = net.JoinHostPort(host, port)
		}
	case "tcp":
	default:
		return "", "", fmt.Errorf("milter address %q: unknown kind %q (tcp, unix, inet, inet6, local)", spec, kind)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", "", fmt.Errorf("milter address %q: %v", spec, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return "", "", fmt.Errorf("milter address %q: want HOST and a port 1-65535", spec)
	}
	return "tcp", rest, nil
}
