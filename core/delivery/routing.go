package delivery

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"time"
)

// Routing configures what delivery does per destination beyond
// config.Delivery: connection reuse limits, backoff, and TLS policy.
type Routing struct {
	// MessagesPerConnection ends a session after this many transactions
	// (default 100), so one long-lived connection does not carry a
	// destination's whole queue.
	MessagesPerConnection int
	// BackoffAfter consecutive attempts in which a destination gave only
	// temporary failures put it in backoff (default 5); a 421 reply does
	// at once (RFC 5321 §3.8: the server is shutting the channel).
	BackoffAfter int
	// Backoff is the first backoff (default 1m); each further failure
	// doubles it up to BackoffMax (default 1h). While a destination is in
	// backoff its recipients get a temporary outcome without a connection.
	Backoff    time.Duration
	BackoffMax time.Duration
	// MTASTS enables MTA-STS (RFC 8461) for MX delivery: the policy is
	// fetched over HTTPS, cached, and in enforce mode only matching MX
	// hosts with certificates valid for their names are used.
	MTASTS bool
	// DANE enables DANE (RFC 7672) for MX delivery: an MX host with
	// DNSSEC-secure MX, address and TLSA records gets TLS authenticated
	// by its TLSA records (dane.go). Secure means the resolver's AD bit.
	DANE bool
	// STSClient fetches MTA-STS policies. Default: an HTTPS client
	// verifying against RootCAs, with a one-minute timeout. Redirects are
	// never followed (RFC 8461 §3.3).
	STSClient *http.Client
	// RootCAs verifies certificates for tls=verify routes, MTA-STS hosts
	// and policy servers; nil means the system roots.
	RootCAs *x509.CertPool
	// httpsDial is the default STSClient's dial of one resolved address
	// (httpsDialer.dial): tests reach their server's port for :443.
	httpsDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Relay is [delivery] relay as a route: the default route's
	// recipients go through it, with its TLS policy and AUTH when it is
	// written "smtp:HOST:PORT?tls=…&authfile=…" (paths resolved), as
	// Postfix's relayhost with smtp_sasl_password_maps. Nil: New makes it
	// from Config.Relay (see relayRoute).
	Relay *Route
	// Fallback is [delivery] fallback_relay as routes, tried in order for
	// the default route's recipients their own hosts did not take
	// (fallback.go), as Postfix's smtp_fallback_relay; written as smtp:
	// routes their files are resolved. Nil: New makes them from
	// Config.FallbackRelay.
	Fallback []Route
}

// forgetAfter is how long a destination's failures are remembered after
// the last one once its backoff has ended: a day, or twice backoff_max
// if longer, which a destination with mail still queued for it is always
// retried within under the default retry schedule.
func (o Routing) forgetAfter() time.Duration { return max(24*time.Hour, 2*o.BackoffMax) }

// routing is the per-agent state behind Routing.
type routing struct {
	opt     Routing
	backoff *backoffs
	sts     *stsCache
	rate    *rates
}

func newRouting(opt Routing) *routing {
	if opt.MessagesPerConnection <= 0 {
		opt.MessagesPerConnection = 100
	}
	if opt.BackoffAfter <= 0 {
		opt.BackoffAfter = 5
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Minute
	}
	if opt.BackoffMax < opt.Backoff {
		opt.BackoffMax = max(time.Hour, opt.Backoff)
	}
	return &routing{opt: opt, backoff: newBackoffs(), sts: newSTSCache(), rate: newRates()}
}
