// Package delivery is Sluice's outbound delivery agent. A scheduler takes
// due messages from the queue's schedule index and hands them to a bounded
// set of workers; a worker groups a message's pending recipients by
// destination (the relay, or each recipient domain's MX hosts), runs one SMTP
// transaction per destination (several past its recipient limit) over
// pooled connections, and records each recipient's outcome and the next
// attempt in the queue.
package delivery

import (
	"crypto/tls"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/queue"
)

// Queue is what delivery needs from the queue; *queue.Store satisfies it.
type Queue interface {
	// Due returns up to limit ids due at now, skipping those skip accepts,
	// and the earliest later attempt (zero when none).
	Due(now time.Time, limit int, skip func(id string) bool) ([]string, time.Time, error)
	Get(id string) (*envelope.Message, error)
	Body(id string) ([]byte, error)
	// Modify applies fn and stores the result; a message whose recipients
	// are all done is removed.
	Modify(id string, fn func(*envelope.Message) error) (*envelope.Message, error)
	// Notify signals that a message may have become due earlier.
	Notify() <-chan struct{}
	// NewID and ModifyEnqueue queue reports (bounces) in the same commit
	// as the change that causes them.
	NewID() string
	ModifyEnqueue(id string, fn func(*envelope.Message) ([]queue.Queued, error)) (*envelope.Message, error)
}

// Options configure an Agent.
type Options struct {
	Config config.Delivery
	// Deliver is the pipeline's deliver hook, asked about each recipient
	// before it is sent (nil: none).
	Deliver DeliverHook
	// Outcome is the pipeline's outcome hook, told what became of
	// recipients once committed (outcomehook.go; zero: none).
	Outcome  OutcomeHook
	Hostname string               // the name we send in EHLO
	Resolver *dnsresolve.Resolver // nil: only a relay given by IP or by name the system resolves
	Clock    func() time.Time     // default time.Now
	Logger   *slog.Logger         // default slog.Default()
	// TLSConfig is the client config for STARTTLS. Default: opportunistic
	// encryption without certificate checks (RFC 7435), as most MX hosts
	// present certificates no one could verify. ServerName is set to the MX
	// host name when empty.
	TLSConfig *tls.Config
	Rand      func() float64 // jitter source in [0,1), default math/rand
	// Metrics counts attempts and outcomes per destination (nil: none).
	Metrics *metrics.Metrics
	// Routing configures per-destination limits, backoff and TLS policy
	// (MTA-STS); see routing.go.
	Routing Routing
	// Bounce configures delivery status notifications (see report.go).
	Bounce BounceOptions
	// FreeSpace reports the bytes free for the queue (queue.Store's):
	// while fewer than MinFree() (queue_minfree) are free, no attempt
	// starts (see diskShort). MinFree is read at each check, so that a
	// reload changes it for the running agent as for the listener. Nil
	// FreeSpace or MinFree, or a negative MinFree(): no check.
	FreeSpace func() (int64, error)
	MinFree   func() int64
	// SoftBounce defers what would fail for good (softbounce.go).
	SoftBounce bool
	// TLSReports counts MX delivery's TLS sessions for SMTP TLS reports
	// (RFC 8460, tlsrpt.go); nil: none counted.
	TLSReports *TLSReports
	// Suspensions are the recipient domains an administrator suspended
	// delivery to (suspend.go); nil: none.
	Suspensions *Suspensions
}

// Agent delivers queued messages. Create it with New and start it with Run.
type Agent struct {
	q       Queue
	cfg     config.Delivery
	host    string
	dns     *dnsresolve.Resolver
	clock   func() time.Time
	log     *slog.Logger
	tls     *tls.Config
	rand    func() float64
	kick    chan struct{}
	metrics *metrics.Metrics
	pool    *pool
	rt      *routing
	dsn     BounceOptions
	source  Source // [delivery] source_address and source_address6
	// busy: the messages an attempt or a bounce is working on.
	busy        *claims
	bounceWait  time.Duration // see Bounce
	deliverHook DeliverHook
	outcomeHook OutcomeHook
	// softBounceOn is Options.SoftBounce.
	softBounceOn bool
	tlsrpt       *TLSReports  // Options.TLSReports
	suspended    *Suspensions // Options.Suspensions

	freeSpace func() (int64, error)
	minFree   func() int64
	// holding and spaceUnknown: what diskShort last logged (Run's goroutine).
	holding, spaceUnknown bool

	// retire is closed by Retire: Run dispatches nothing more.
	retire     chan struct{}
	retireOnce sync.Once
}

// New returns an agent over q. Zero fields of opt.Config get the defaults
// config.Default uses, except Jitter: zero means none.
func New(q Queue, opt Options) *Agent {
	cfg := withDefaults(opt.Config)
	a := &Agent{
		q:       q,
		cfg:     cfg,
		host:    opt.Hostname,
		dns:     opt.Resolver,
		clock:   opt.Clock,
		log:     opt.Logger,
		tls:     opt.TLSConfig,
		rand:    opt.Rand,
		kick:    make(chan struct{}, 1),
		retire:  make(chan struct{}),
		metrics: opt.Metrics,
		dsn:     opt.Bounce,
		busy:    newClaims(),
		source:  sourceOf(cfg),

		bounceWait: bounceWait,

		deliverHook:  opt.Deliver,
		outcomeHook:  opt.Outcome,
		softBounceOn: opt.SoftBounce,
		tlsrpt:       opt.TLSReports,
		suspended:    opt.Suspensions,

		freeSpace: opt.FreeSpace,
		minFree:   opt.MinFree,
	}
	if a.host == "" {
		a.host = "localhost"
	}
	if a.clock == nil {
		a.clock = time.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.rand == nil {
		a.rand = rand.Float64
	}
	a.pool = newPool(cfg.PerDestination, cfg.IdleTimeout.Duration)
	a.rt = newRouting(opt.Routing)
	a.rt.rate.gauge = opt.Metrics // not shared yet: Successor's report locks
	if a.rt.opt.Relay == nil && cfg.Relay != "" {
		a.rt.opt.Relay = relayRoute(cfg.Relay)
	}
	if a.rt.opt.Fallback == nil {
		a.rt.opt.Fallback = fallbackRoutes(cfg.FallbackRelay)
	}
	return a
}

// Successor returns an agent over the same queue with new options, for a
// config reload: it shares this agent's claims on messages, so that while
// this one, retired, finishes the attempts it has in flight, the
// successor never starts a second attempt of the same message nor a
// bounce of it; and its wake-up, so that each such attempt's end makes
// the successor look at the message again (its next attempt is the
// successor's to schedule). MTA-STS policies stay cached (RFC 8461 §5.1:
// a cached policy holds when a fetch fails). Backoffs and idle
// connections are not carried over.
func (a *Agent) Successor(opt Options) *Agent {
	n := New(a.q, opt)
	n.busy, n.kick = a.busy, a.kick
	n.rt.sts = a.rt.sts
	// The rate delay's starts, promises and the delivery still running
	// under the retiring agent hold for the successor too (rate.go), and
	// its count of waiting messages goes on in the successor's metrics.
	n.rt.rate = a.rt.rate
	n.rt.rate.report(opt.Metrics)
	return n
}

// Retire makes Run dispatch nothing more and return once the attempts in
// flight have ended on their own (a reload's successor takes over the
// queue); if Run's ctx ends first, they drain as at any stop.
func (a *Agent) Retire() {
	a.retireOnce.Do(func() { close(a.retire) })
}

// isRetired reports whether Retire was called.
func (a *Agent) isRetired() bool {
	select {
	case <-a.retire:
		return true
	default:
		return false
	}
}

// relayRoute is [delivery] relay as the route the default route's
// recipients take: host:port, [host] or host is an smtp: route without
// parameters (without a port it goes to [delivery] port, see hostPort);
// one written as an smtp: route is parsed, its files as written (the
// daemon passes Routing.Relay with them resolved). The daemon refuses at
// start one that does not parse.
func relayRoute(relay string) *Route {
	if !config.RelayIsRoute(relay) {
		relay = "smtp:" + relay
	}
	if rt, err := ParseRoute(relay); err == nil {
		return &rt
	}
	return &Route{Kind: RouteSMTP, Addr: strings.TrimPrefix(relay, "smtp:")}
}

// withDefaults fills the zero fields of c as config.Default does, so an
// Agent built from a hand-written config.Delivery still works.
func withDefaults(c config.Delivery) config.Delivery {
	def := func(d *config.Duration, v time.Duration) {
		if d.Duration <= 0 {
			d.Duration = v
		}
	}
	if c.Port == 0 {
		c.Port = 25
	}
	if len(c.Retry) == 0 {
		for _, d := range []time.Duration{5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour} {
			c.Retry = append(c.Retry, config.Duration{Duration: d})
		}
	}
	def(&c.MaxAge, 5*24*time.Hour)
	def(&c.BounceMaxAge, c.MaxAge.Duration)
	def(&c.ConnectTimeout, 30*time.Second)
	def(&c.CommandTimeout, 5*time.Minute)
	def(&c.IdleTimeout, 10*time.Second)
	if c.Workers < 1 {
		c.Workers = 1
	}
	if c.PerDestination < 1 {
		c.PerDestination = 1
	}
	if c.MXAddressLimit == 0 {
		c.MXAddressLimit = config.DefaultMXAddressLimit
	}
	if c.MXSessionLimit == 0 {
		c.MXSessionLimit = config.DefaultMXSessionLimit
	}
	if c.RecipientsPerTransaction == 0 {
		c.RecipientsPerTransaction = config.DefaultRecipientsPerTransaction
	}
	return c
}

// Kick makes the scheduler look for due messages now, as after a test
// advanced its clock or an operator asked for a retry.
func (a *Agent) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// ForgetBackoffs clears every destination's backoff and rescans the
// queue, as Postfix's flush forgets its dead destinations: an operator who
// asks for a retry or a flush wants the next hops tried now, not once
// their backoff ends. A destination that still fails goes back into
// backoff as before.
func (a *Agent) ForgetBackoffs() {
	a.rt.backoff.reset()
	a.Kick()
}

// Withdrawn tells the agent that an administrator held or deleted
// message id (the admin API's hold and delete, which go to the queue
// directly): a start a rate delay promised it is no longer counted as
// waiting (sluice_delivery_rate_delay_waiting), and, released, it queues
// behind the messages promised a start meanwhile.
func (a *Agent) Withdrawn(id string) {
	a.rt.rate.forget(id)
}

// The queue store is the production Queue.
var _ Queue = (*queue.Store)(nil)
