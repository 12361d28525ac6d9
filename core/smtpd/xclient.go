package smtpd

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/netlist"
)

// XCLIENT (Postfix's XCLIENT_README): a client in a listener's
// xclient_hosts (Postfix's smtpd_authorized_xclient_hosts), such as
// nginx's mail proxy, names the client it speaks for. Go-smtp parses the
// command and starts the session over; this file reads the attributes.

// xclientNames are the attributes Sluice takes, in the order EHLO
// advertises them.
var xclientNames = []string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"}

// The values XCLIENT_README gives for what the proxy does not know: the
// name's look-up failed for good, or for now.
const (
	xclientUnavailable = "[UNAVAILABLE]"
	xclientTempUnavail = "[TEMPUNAVAIL]"
)

// xclientTrust is a listener's xclient_hosts as it is now; a reload
// replaces it, for the commands that follow.
type xclientTrust struct{ nets []netip.Prefix }

func newXClientTrust(lc config.Listener) *xclientTrust {
	return &xclientTrust{nets: prefixes(lc.XClientHosts)}
}

// allows reports whether a client at ip may use XCLIENT.
func (x *xclientTrust) allows(ip netip.Addr) bool {
	return x != nil && netlist.Contains(x.nets, ip)
}

// xclientAllowed reports whether the connection's client is in its
// listener's xclient_hosts now.
func (c *conn) xclientAllowed() bool {
	return c.l != nil && c.l.xclient.Load().allows(c.info.Client.Addr())
}

// xclient is what one XCLIENT command says; a nil field was not given.
type xclient struct {
	addr     *netip.Addr
	port     *uint16
	name     *string // "": the name is unknown
	helo     *string
	proto    string // "SMTP", "ESMTP", or "" (not given)
	login    *string
	destAddr *netip.Addr
	destPort *uint16

	// heloGiven and loginGiven: HELO or LOGIN was given, [UNAVAILABLE]
	// (a nil helo or login) included.
	heloGiven, loginGiven bool
}

// parseXClient checks the attributes; a refusal is 501 5.5.4 with the
// attribute's name and value as Postfix words it.
func parseXClient(attrs []smtp.XClientAttr) (*xclient, *reply.Reply) {
	x := &xclient{}
	for _, a := range attrs {
		v, unavailable := a.Value, strings.EqualFold(a.Value, xclientUnavailable)
		ok := true
		switch a.Name {
		case "NAME":
			// XCLIENT_README: [UNAVAILABLE] or [TEMPUNAVAIL] when the
			// proxy's look-up failed; the session then has no name.
			name := strings.TrimSuffix(v, ".")
			if unavailable || strings.EqualFold(v, xclientTempUnavail) {
				name = ""
			} else if ok = dnsresolve.IsHostName(name); ok {
				name = strings.ToLower(name)
			}
			x.name = &name
		case "ADDR":
			// No client without an address: relay_networks, the limits
			// and Received all need one, so [UNAVAILABLE] is refused.
			var ip netip.Addr
			ip, ok = xclientAddr(v)
			x.addr = &ip
		case "DESTADDR":
			var ip netip.Addr // unavailable: no local address
			if !unavailable {
				ip, ok = xclientAddr(v)
			}
			x.destAddr = &ip
		case "PORT", "DESTPORT":
			var p uint16
			if !unavailable {
				p, ok = xclientPort(v)
			}
			if a.Name == "PORT" {
				x.port = &p
			} else {
				x.destPort = &p
			}
		case "PROTO":
			x.proto = strings.ToUpper(v)
			ok = x.proto == "SMTP" || x.proto == "ESMTP"
		case "HELO":
			// [UNAVAILABLE]: no HELO name, an earlier XCLIENT's
			// neither; the name of the greeting that follows stands.
			x.helo, x.heloGiven = nil, true
			if !unavailable {
				x.helo, ok = &v, len(v) <= maxDomainLength
			}
		case "LOGIN":
			x.login, x.loginGiven = nil, true // [UNAVAILABLE]: no one logged in
			if !unavailable {
				x.login, ok = &v, utf8.ValidString(v)
			}
		}
		if !ok {
			return nil, &reply.Reply{Code: 501, Enhanced: [3]int{5, 5, 4}, Text: "Bad " + a.Name + " syntax: " + echoed(v)}
		}
	}
	return x, nil
}

// maxDomainLength is the longest HELO name, in octets (RFC 5321
// §4.5.3.1.2), as go-smtp bounds EHLO's.
const maxDomainLength = 255

// xclientAddr parses an ADDR or DESTADDR: an IPv4 address, or an IPv6
// one, prefixed with "IPV6:" as XCLIENT_README writes it or not (as
// nginx sends it), without a zone. An IPv4-mapped address is the IPv4
// one, as connections report theirs.
func xclientAddr(v string) (netip.Addr, bool) {
	s := v
	if len(s) > 5 && strings.EqualFold(s[:5], "IPV6:") {
		s = s[5:]
		if !strings.Contains(s, ":") {
			return netip.Addr{}, false
		}
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// xclientPort parses a PORT or DESTPORT: decimal, 0 to 65535.
func xclientPort(v string) (uint16, bool) {
	if v == "" || len(v) > 5 || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 16)
	return uint16(n), err == nil
}

// maxXClientEcho is the most of a refused value a reply echoes, in
// octets: enough to show an operator what the proxy sent, and a reply
// line has at most 512 (RFC 5321 §4.5.3.1.5). go-smtp takes values of
// up to 255 octets today; the reply does not rely on it.
const maxXClientEcho = 64

// echoed is a refused value as a reply line shows it: cut to
// maxXClientEcho octets, "..." after, as go-smtp cuts an unknown verb it
// echoes, and bytes outside printable ASCII made '?' (go-smtp has
// refused control characters already; this catches the rest of what is
// not ASCII, half a character cut included).
func echoed(s string) string {
	if len(s) > maxXClientEcho {
		s = s[:maxXClientEcho] + "..."
	}
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '?'
		}
	}
	return string(b)
}
