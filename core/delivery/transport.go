package delivery

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// A recipient's route (envelope.Recipient.Route, set by a pipeline stage
// with sdk.SetRoute) names the transport that delivers it:
//
//	""  or "mx"                        the default: [delivery] relay when set, else MX
//	"mx?tls=verify"                    MX delivery with a TLS policy
//	"smtp:HOST:PORT"                   a smarthost (IPv6: smtp:[::1]:25);
//	"smtp:[HOST]", "smtp:HOST"         one on [delivery] port (25), as Postfix
//	                                   writes it (no MX look-up either way)
//	"smtp:HOST:PORT?tls=required&authfile=/etc/sluice/relay.auth"
//	"lmtp:tcp:HOST:PORT"               LMTP (RFC 2033) over TCP (or, as
//	                                   Postfix writes it, lmtp:inet:HOST:PORT)
//	"lmtp:unix:/run/dovecot/lmtp"      LMTP over a Unix socket
//	"discard"                          recorded as delivered, nothing sent
//
// Parameters (mx and smtp only, but recipient_limit, which lmtp takes too):
//
//	tls=opportunistic  STARTTLS when offered, plaintext if it fails (default;
//	                   Postfix's may)
//	tls=required       STARTTLS must succeed; the certificate is not checked
//	                   (Postfix's encrypt)
//	tls=verify         STARTTLS with a certificate valid for the host name
//	                   (Postfix's verify and secure)
//	tls=dane           smtp only: DANE (RFC 7672) when the host's addresses
//	                   and TLSA records are DNSSEC-secure, else opportunistic
//	                   (required with authfile); Postfix's dane (dane.go)
//	tls=dane-only      smtp only: DANE or the mail waits (Postfix's dane-only)
//	ca=PATH            PEM roots for tls=verify instead of the system's
//	authfile=PATH      AUTH PLAIN with the "user:password" line in PATH
//	                   (implies tls=required unless tls is given); the
//	                   secret stays out of the queue and the logs
//	source=ADDR        bind this local address (Postfix's -o
//	                   smtp_bind_address); once per family at most, it
//	                   replaces [delivery] source_address of its family
//	rate_delay=DUR     the time between the starts of two deliveries to
//	                   one destination, one at a time, instead of
//	                   [delivery] rate_delay (Postfix's main.cf
//	                   TRANSPORT_destination_rate_delay); 0s turns it off
//	recipient_limit=N  at most N recipients in one transaction (Postfix's
//	                   TRANSPORT_destination_recipient_limit) instead of
//	                   [delivery] recipients_per_transaction; -1 for no
//	                   limit (rcptlimit.go)
//	connection_limit=N at most N connections open at once to each of the
//	                   destination's server addresses, busy or idle,
//	                   instead of [delivery] per_destination (KumoMTA's
//	                   connection_limit, a provider's own)
//	messages_per_connection=N
//	                   at most N transactions on one connection, then QUIT,
//	                   instead of [delivery] messages_per_connection
//	                   (KumoMTA's max_deliveries_per_connection)
//
// A TLS policy other than opportunistic never falls back to plaintext:
// a failed handshake defers the recipients.

// RouteKind is the transport a route selects.
type RouteKind string

// The transports.
const (
	RouteMX      RouteKind = "mx"
	RouteSMTP    RouteKind = "smtp"
	RouteLMTP    RouteKind = "lmtp"
	RouteDiscard RouteKind = "discard"
)

// TLSMode is a destination's TLS policy.
type TLSMode string

// The TLS policies.
const (
	TLSOpportunistic TLSMode = "opportunistic" // RFC 7435
	TLSRequired      TLSMode = "required"
	TLSVerify        TLSMode = "verify"
	// TLSDANE and TLSDANEOnly ask for DANE on an smtp: route: the hop's
	// policy is then set from its TLSA records (Agent.applyDANE).
	TLSDANE     TLSMode = "dane"
	TLSDANEOnly TLSMode = "dane-only"
)

// lmtpPort is an LMTP next hop's port when its route names none.
const lmtpPort = 24

// tlsModes are the tls= values: Sluice's names and, as aliases,
// Postfix's smtp_tls_security_level names. Postfix's secure also checks
// the name, as verify does here; none and fingerprint have no Sluice
// policy and stay errors.
var tlsModes = map[string]TLSMode{
	"opportunistic": TLSOpportunistic, "may": TLSOpportunistic,
	"required": TLSRequired, "encrypt": TLSRequired,
	"verify": TLSVerify, "secure": TLSVerify,
	"dane": TLSDANE, "dane-only": TLSDANEOnly,
}

// wantsDANE reports whether m asks for DANE.
func (m TLSMode) wantsDANE() bool { return m == TLSDANE || m == TLSDANEOnly }

// Route is a parsed recipient route.
type Route struct {
	Kind     RouteKind
	Network  string // lmtp: "tcp" or "unix"
	Addr     string // smtp and lmtp tcp: host:port; lmtp unix: the socket path
	TLS      TLSMode
	CAFile   string
	AuthFile string
	Source   Source // source=: the local addresses to bind (source.go)
	// RateDelay is rate_delay=, used when HasRateDelay (it may be 0s,
	// turning [delivery] rate_delay off for the rule's mail).
	RateDelay    time.Duration
	HasRateDelay bool
	// RecipientLimit is recipient_limit=, used when HasRecipientLimit:
	// the recipients one transaction carries, -1 for no limit.
	RecipientLimit    int
	HasRecipientLimit bool
	// ConnectionLimit is connection_limit=: the connections open at once
	// to one server address for the route's mail; 0 is [delivery]
	// per_destination.
	ConnectionLimit int
	// MessagesPerConnection is messages_per_connection=: the
	// transactions one connection carries for the route's mail; 0 is
	// [delivery] messages_per_connection.
	MessagesPerConnection int
}

// ParseRoute parses a route string; "" is the default route (mx).
func ParseRoute(s string) (Route, error) {
	spec, query, _ := strings.Cut(s, "?")
	kind, rest, _ := strings.Cut(spec, ":")
	var r Route
	switch RouteKind(kind) {
	case "", RouteMX:
		if rest != "" {
			return r, fmt.Errorf("route %q: mx takes no address", s)
		}
		r.Kind = RouteMX
	case RouteDiscard:
		if rest != "" || query != "" {
			return r, fmt.Errorf("route %q: discard takes no address or parameters", s)
		}
		return Route{Kind: RouteDiscard}, nil
	case RouteSMTP:
		// Postfix's smtp:[host]:port, smtp:[host] and smtp:host; without
		// a port the agent dials [delivery] port (see hostPort).
		host, port, err := config.SplitRelay(rest)
		if err != nil {
			return r, fmt.Errorf("route %q: %v", s, err)
		}
		r.Kind, r.Addr = RouteSMTP, config.JoinRelay(host, port)
	case RouteLMTP:
		network, addr, _ := strings.Cut(rest, ":")
		switch network {
		case "tcp", "inet":
			// Postfix and Dovecot's documentation write a TCP
			// next hop lmtp:inet:HOST:PORT; it is the same route.
			network = "tcp"
			// Without a port, LMTP's own: 24 (RFC 2033 §5 asks that
			// LMTP not use 25; Postfix's lmtp service and Dovecot's
			// lmtp listener use 24).
			host, port, err := config.SplitRelay(addr)
			if err != nil {
				return r, fmt.Errorf("route %q: %v", s, err)
			}
			if port == 0 {
				port = lmtpPort
			}
			addr = config.JoinRelay(host, port)
		case "unix":
			if addr == "" {
				return r, fmt.Errorf("route %q: no socket path", s)
			}
		default:
			return r, fmt.Errorf("route %q: want lmtp:tcp:HOST:PORT or lmtp:unix:PATH", s)
		}
		r = Route{Kind: RouteLMTP, Network: network, Addr: addr}
	default:
		return r, fmt.Errorf("route %q: unknown transport %q (want mx, smtp, lmtp or discard)", s, kind)
	}
	if query == "" {
		return r, nil
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return r, fmt.Errorf("route %q: %v", s, err)
	}
	for k, v := range vals {
		if r.Kind == RouteLMTP && k != "recipient_limit" {
			// An LMTP server is this site's own mailbox store: TLS,
			// AUTH, a source address or pacing are not asked of it.
			return r, fmt.Errorf("route %q: lmtp takes no parameter but recipient_limit", s)
		}
		if k == "source" {
			if r.Source, err = parseSource(v); err != nil {
				return r, fmt.Errorf("route %q: %v", s, err)
			}
			continue
		}
		if len(v) != 1 || v[0] == "" {
			return r, fmt.Errorf("route %q: parameter %s needs one value", s, k)
		}
		switch k {
		case "tls":
			m, ok := tlsModes[v[0]]
			if !ok {
				return r, fmt.Errorf("route %q: tls=%s: want opportunistic, required, verify, dane or dane-only (or Postfix's may, encrypt, secure)", s, v[0])
			}
			if m.wantsDANE() && r.Kind != RouteSMTP {
				// MX delivery takes DANE from [delivery] dane.
				return r, fmt.Errorf("route %q: tls=%s is for smtp routes; MX delivery uses [delivery] dane", s, v[0])
			}
			r.TLS = m
		case "ca":
			r.CAFile = v[0]
		case "rate_delay":
			d, err := time.ParseDuration(v[0])
			if err != nil || d < 0 {
				return r, fmt.Errorf("route %q: rate_delay=%s: want a duration such as 500ms or 1m, not negative", s, v[0])
			}
			r.RateDelay, r.HasRateDelay = d, true
		case "recipient_limit":
			n, err := strconv.Atoi(v[0])
			if err != nil || n == 0 || n < -1 {
				return r, fmt.Errorf("route %q: recipient_limit=%s: want a positive number, or -1 for no limit", s, v[0])
			}
			r.RecipientLimit, r.HasRecipientLimit = n, true
		case "connection_limit":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 {
				return r, fmt.Errorf("route %q: connection_limit=%s: want a positive number", s, v[0])
			}
			r.ConnectionLimit = n
		case "messages_per_connection":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 {
				return r, fmt.Errorf("route %q: messages_per_connection=%s: want a positive number", s, v[0])
			}
			r.MessagesPerConnection = n
		case "authfile":
			if r.Kind != RouteSMTP {
				return r, fmt.Errorf("route %q: authfile is for smtp routes", s)
			}
			r.AuthFile = v[0]
		default:
			return r, fmt.Errorf("route %q: unknown parameter %q", s, k)
		}
	}
	if r.CAFile != "" && r.TLS != TLSVerify {
		return r, fmt.Errorf("route %q: ca= needs tls=verify", s)
	}
	if r.AuthFile != "" && r.TLS == "" {
		r.TLS = TLSRequired // credentials never travel in the clear
	}
	if r.AuthFile != "" && r.TLS == TLSOpportunistic {
		return r, fmt.Errorf("route %q: authfile needs tls=required or tls=verify", s)
	}
	return r, nil
}

// String renders r canonically: equal routes render equally, so the
// rendering keys destinations.
func (r Route) String() string {
	var s string
	switch r.Kind {
	case RouteMX, "":
		s = "mx"
	case RouteSMTP:
		s = "smtp:" + r.Addr
	case RouteLMTP:
		s = "lmtp:" + r.Network + ":" + r.Addr
	case RouteDiscard:
		return "discard"
	}
	q := url.Values{}
	if r.TLS != "" && r.TLS != TLSOpportunistic {
		q.Set("tls", string(r.TLS))
	}
	if r.CAFile != "" {
		q.Set("ca", r.CAFile)
	}
	if r.AuthFile != "" {
		q.Set("authfile", r.AuthFile)
	}
	r.Source.addTo(q)
	if r.HasRateDelay {
		q.Set("rate_delay", r.RateDelay.String())
	}
	if r.HasRecipientLimit {
		q.Set("recipient_limit", strconv.Itoa(r.RecipientLimit))
	}
	if r.ConnectionLimit > 0 {
		q.Set("connection_limit", strconv.Itoa(r.ConnectionLimit))
	}
	if r.MessagesPerConnection > 0 {
		q.Set("messages_per_connection", strconv.Itoa(r.MessagesPerConnection))
	}
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}
