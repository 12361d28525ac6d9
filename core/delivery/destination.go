package delivery

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// destination is a set of recipients delivered together, in one
// transaction or, past its recipient limit (rcptlimit.go), in several on
// the same connection: the recipients sharing a route; for the default
// route everything when relaying, otherwise the recipients of one domain.
type destination struct {
	name   string                // the relay's host:port, the recipient domain or the route, for logs
	key    string                // what backoff and grouping know it by
	domain string                // lowercased recipient domain; empty when relaying
	relay  *hop                  // the smarthost, when relaying
	route  Route                 // the transport
	rcpts  []*envelope.Recipient // in message order
	// rateWaited marks a delivery that waited for its destination's
	// rate_delay (rate.go): its attempt's log line says so.
	rateWaited bool
	// mayFallBack marks the default route's recipients (MX, or the
	// relay), which [delivery] fallback_relay takes when their own hosts
	// do not (fallback.go); own is their route as the recipients carry
	// it, whose tls= and source= the fallback keeps, as the relay does.
	mayFallBack bool
	own         Route
	// selfMX: this MTA is one of the domain's MX hosts, so its mail never
	// goes to a fallback relay, which would hand it back (Postfix 2.2 and
	// later: not for a destination it is MX host for).
	selfMX bool
	// isFallback marks a fallback relay's own destination, made for the
	// recipients the destination proper left (fallback.go).
	isFallback bool
	// fellBack names the fallback relays tried, for the attempt's log
	// line and trace event.
	fellBack []string
}

// hop is one host a destination may be reached through.
type hop struct {
	host string // name or IP literal
	port int
	// implicit marks the domain itself standing in for a missing MX
	// (RFC 5321 §5.1): a domain without addresses then accepts no mail.
	implicit bool
	// mx marks a host found by MX lookup (or the implicit MX), at
	// preference pref: one that turns out to be this MTA ends the list
	// (RFC 5321 §5.1), see loopError.
	mx   bool
	pref uint16
	// dnssec marks an MX host from a DNSSEC-secure MX RRset under
	// [delivery] dane, or an smtp: route's host under tls=dane (no MX
	// RRset stands before it): one whose addresses are secure too has its
	// TLSA records looked up (RFC 7672 §2.2). daneOnly (tls=dane-only)
	// gives up a host DANE does not apply to.
	dnssec   bool
	daneOnly bool
	// mxSecure marks an MX host from a DNSSEC-validated MX RRset, as a
	// REQUIRETLS message needs (RFC 8689 §4.2.1), DANE on or off.
	mxSecure bool
	tls      tlsPolicy
	lmtp     string // "tcp" or "unix" for an LMTP server; host is then the socket path for unix
	authFile string // AUTH credentials (see ParseRoute)
	source   Source // the local addresses to bind (source.go)
	// connLimit is the route's connection_limit=, 0 for [delivery]
	// per_destination (pool.get).
	connLimit int
	// perConn is the route's messages_per_connection=, 0 for [delivery]
	// messages_per_connection (tryAddr).
	perConn int
	// backoffKey is the key of the destination the hop serves in the
	// backoff table: an attempt that waited for a connection slot looks
	// there again before it dials (tryAddr).
	backoffKey string
}

// group sorts pending recipients into destinations in order of first
// appearance: one per distinct route, and for the default route one per
// domain (or the relay). Recipients that can never be delivered (no
// domain, CR or LF in the address) come back in failed, and so do those
// whose route does not parse (temporarily: the route came from a stage,
// and fixing the stage must not lose the mail).
func (a *Agent) group(pending []*envelope.Recipient) (dests []*destination, failed map[string]outcome) {
	failed = map[string]outcome{}
	byName := map[string]*destination{}
	for _, r := range pending {
		domain, ok := domainOf(r.Addr)
		if !ok {
			failed[r.Addr] = permanent(reply.BadAddress.With("no domain in " + r.Addr))
			continue
		}
		rt, err := ParseRoute(r.Route)
		if err != nil {
			failed[r.Addr] = temporary(badRoute.With(err.Error()).Error())
			continue
		}
		relay := a.rt.opt.Relay
		key := rt.String()
		if rt.Kind == RouteMX {
			key = domain
			if relay != nil {
				key = relay.Addr // not the authfile's path, in every log line
			}
			if s := rt.String(); s != "mx" {
				key += " " + s
			}
		}
		d := byName[key]
		if d == nil {
			d = &destination{name: key, key: key, route: rt, own: rt, mayFallBack: rt.Kind == RouteMX}
			if relay != nil && rt.Kind == RouteMX {
				// The relay's own route: its TLS policy and AUTH, unless
				// the recipient's route asks for a TLS policy of its own.
				d.route = *relay
				if rt.TLS != "" && rt.TLS != TLSOpportunistic {
					d.route.TLS, d.route.CAFile = rt.TLS, rt.CAFile
				}
				d.route.Source = d.route.Source.over(rt.Source)
				if rt.HasRateDelay {
					d.route.RateDelay, d.route.HasRateDelay = rt.RateDelay, true
				}
				if rt.HasRecipientLimit {
					d.route.RecipientLimit, d.route.HasRecipientLimit = rt.RecipientLimit, true
				}
				if rt.ConnectionLimit > 0 {
					d.route.ConnectionLimit = rt.ConnectionLimit
				}
				if rt.MessagesPerConnection > 0 {
					d.route.MessagesPerConnection = rt.MessagesPerConnection
				}
			}
			switch d.route.Kind {
			case RouteSMTP:
				d.relay = hostPort(d.route.Addr, a.cfg.Port)
			case RouteMX:
				d.domain = domain
			}
			byName[key] = d
			dests = append(dests, d)
		}
		d.rcpts = append(d.rcpts, r)
	}
	return dests, failed
}

// hostPort makes a hop of "host:port", or of a bare host ("[host]",
// "host") on port.
func hostPort(s string, port int) *hop {
	if host, p, err := net.SplitHostPort(s); err == nil {
		n, _ := strconv.Atoi(p)
		return &hop{host: host, port: n}
	}
	if host, n, err := config.SplitRelay(s); err == nil && n == 0 {
		return &hop{host: host, port: port}
	}
	return &hop{host: s, port: port}
}

// domainOf returns the lowercased domain of addr. The domain follows the
// last "@" (RFC 5321 §4.1.2: the local part may be quoted and contain "@").
func domainOf(addr string) (string, bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || i == len(addr)-1 || strings.ContainsAny(addr, "\r\n") {
		return "", false
	}
	return strings.TrimSuffix(strings.ToLower(addr[i+1:]), "."), true
}

// domainLiteral parses an address literal domain such as "[192.0.2.1]" or
// "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3), delivered to without DNS.
func domainLiteral(domain string) (netip.Addr, bool) {
	if len(domain) < 3 || domain[0] != '[' || domain[len(domain)-1] != ']' {
		return netip.Addr{}, false
	}
	s := domain[1 : len(domain)-1]
	if len(s) > 5 && strings.EqualFold(s[:5], "ipv6:") {
		s = s[5:]
	}
	ip, err := netip.ParseAddr(s)
	return ip, err == nil
}
