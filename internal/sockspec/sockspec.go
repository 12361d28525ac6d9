// Package sockspec parses the socket specs of the settings that name a
// socket Sluice dials, a stage's milter and [auth] dovecot_socket, written
// as Postfix and Sendmail write them:
//
//   - "unix:PATH" and "local:PATH", a unix socket (Postfix's
//     MILTER_README, "Configuring Postfix"; Sendmail's X option S=);
//   - "inet:HOST:PORT", Postfix's TCP form, where an IPv6 HOST is
//     bracketed ("inet:[::1]:8891", or "inet:[IPv6:::1]:8891"), and
//     "tcp:HOST:PORT", Sluice's; "inet:PORT" and "inet::PORT" are
//     localhost's PORT, as Postfix's inet_connect has them (host_port
//     with the default host "localhost"), for its milters and its Dovecot
//     auth client alike;
//   - "inet:PORT@HOST" and "inet6:PORT@HOST", Sendmail's, which milters
//     document themselves with ("inet:8891@127.0.0.1", "inet6:8891@::1",
//     or with an IP literal in brackets, "inet6:8891@[::1]");
//     "inet6:HOST:PORT" is taken too;
//   - a bare PATH where the setting allows it, as Postfix's
//     smtpd_sasl_path = private/auth (ParsePath), not where a kind is
//     required, as in Postfix's smtpd_milters (Parse).
//
// Kinds are lower case, as Postfix compares them (strcmp): "INET:…" is
// no spec. A port is a number from 1 to 65535, not a service name: a
// typo in one would only fail when dialled. Whether a HOST is a valid
// name is left to the caller (core/config checks it as it checks every
// address it dials).
package sockspec

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Spec is a parsed socket spec.
type Spec struct {
	Kind    string // as written: unix, local, inet, inet6, tcp; "" for a bare path
	Network string // for net.Dial: "unix" or "tcp"
	Address string // the socket path, or HOST:PORT (a PORT@HOST turned round)
}

// Forms lists the forms Parse takes, for an error about an unknown kind.
const Forms = "tcp:HOST:PORT, unix:PATH, inet:PORT@HOST, inet:HOST:PORT, inet6:PORT@HOST or local:PATH"

// Error is a refused spec: what it should have looked like and why not.
type Error struct {
	Spec   string
	Form   string // the forms of its kind, or Forms when the kind is unknown
	Reason string // "" when the kind is unknown
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("%q must be %s", e.Spec, e.Form)
	}
	return fmt.Sprintf("%q must be %s: %s", e.Spec, e.Form, e.Reason)
}

// Form names the forms of a kind, as an Error does.
func Form(kind string) string {
	switch kind {
	case "":
		return "a socket PATH"
	case "inet", "inet6":
		return kind + ":PORT@HOST or " + kind + ":HOST:PORT"
	case "tcp":
		return "tcp:HOST:PORT"
	}
	return kind + ":PATH"
}

// Parse parses a spec that must name its kind, as a milter's does.
func Parse(spec string) (Spec, error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok || !known(kind) {
		return Spec{}, &Error{Spec: spec, Form: Forms}
	}
	return parse(spec, kind, rest)
}

// ParsePath parses a spec that may also be a bare unix socket PATH, as
// dovecot_socket may: a spec that does not start with one of Parse's
// kinds and a colon is a path, colons and all.
func ParsePath(spec string) (Spec, error) {
	if kind, rest, ok := strings.Cut(spec, ":"); ok && known(kind) {
		return parse(spec, kind, rest)
	}
	return parse(spec, "", spec)
}

func known(kind string) bool {
	switch kind {
	case "unix", "local", "inet", "inet6", "tcp":
		return true
	}
	return false
}

func parse(spec, kind, rest string) (Spec, error) {
	bad := func(reason string) (Spec, error) {
		return Spec{}, &Error{Spec: spec, Form: Form(kind), Reason: reason}
	}
	switch kind {
	case "", "unix", "local":
		if rest == "" {
			return bad("the path is missing")
		}
		// Neither can be in a path one can open, and a line break would
		// split the line check-config prints.
		if strings.ContainsAny(rest, "\x00\n") {
			return bad("the path holds a NUL or a line break")
		}
		return Spec{Kind: kind, Network: "unix", Address: rest}, nil
	case "inet", "inet6":
		port, host, sendmail := strings.Cut(rest, "@")
		switch {
		case sendmail:
			// Sendmail and libmilter take an IP literal in brackets, as
			// OpenDKIM's manual asks one to be written (inet6:8891@[::1]);
			// JoinHostPort would bracket it again.
			if h, ok := strings.CutPrefix(host, "["); ok {
				if host, ok = strings.CutSuffix(h, "]"); !ok {
					return bad(fmt.Sprintf("%q has no closing bracket", "["+h))
				}
			}
			rest = net.JoinHostPort(host, port)
		case kind == "inet":
			var err error
			if rest, err = postfixInet(rest); err != nil {
				return bad(err.Error())
			}
		}
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return bad("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || strings.Trim(port, "0123456789") != "" || n < 1 || n > 65535 {
		return bad(fmt.Sprintf("port %q must be a number from 1 to 65535", port))
	}
	if host == "" {
		return bad("want a host before the port")
	}
	return Spec{Kind: kind, Network: "tcp", Address: rest}, nil
}

// postfixInet reads the HOST:PORT of Postfix's "inet:" the way its
// inet_connect does (src/util/host_port.c): a PORT alone or after a
// colon is localhost's, and "[IPv6:ADDR]" is "[ADDR]", the prefix in
// any case and ADDR an IPv6 address. Anything else is left as written.
func postfixInet(rest string) (string, error) {
	if h, ok := strings.CutPrefix(rest, "["); ok {
		if len(h) >= len("IPv6:") && strings.EqualFold(h[:len("IPv6:")], "IPv6:") {
			addr, port, ok := strings.Cut(h[len("IPv6:"):], "]")
			if !ok {
				return "", fmt.Errorf("%q has no closing bracket", rest)
			}
			if a, err := netip.ParseAddr(addr); err != nil || !a.Is6() || a.Zone() != "" {
				return "", fmt.Errorf("%q is not an IPv6 address", addr)
			}
			return "[" + addr + "]" + port, nil
		}
		return rest, nil
	}
	if digits(rest) {
		return "localhost:" + rest, nil
	}
	if p, ok := strings.CutPrefix(rest, ":"); ok && !strings.Contains(p, ":") {
		return "localhost:" + p, nil
	}
	return rest, nil
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
