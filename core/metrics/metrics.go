// Package metrics is Sluice's Prometheus instrumentation, and the only
// package that imports the Prometheus client. The rest of the core calls
// typed methods on a *Metrics (a nil *Metrics is a valid no-op, so tests
// and tools need no registry), and the daemon hands it provider funcs for
// what is cheaper to read at scrape time than to track: queue sizes, stage
// health, Pebble's own statistics.
//
// Every label has a bounded set of values: listeners and stages come from
// the config, outcomes and hooks are closed sets, and the open-ended ones
// (destination domain, reject reason) are capped, folding the excess into
// "other".
package metrics

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcome is how an SMTP transaction or recipient ended.
type Outcome string

// Transaction and recipient outcomes.
const (
	Accepted    Outcome = "accepted"    // 250 and queued
	Rejected    Outcome = "rejected"    // 5xx
	Tempfailed  Outcome = "tempfailed"  // 4xx
	Discarded   Outcome = "discarded"   // 250, kept nothing (a stage's discard)
	Quarantined Outcome = "quarantined" // 250, kept in state quarantined
	Aborted     Outcome = "aborted"     // RSET/QUIT/disconnect before the end of DATA
)

// DeliveryOutcome is how one delivery attempt (or one recipient of it)
// ended.
type DeliveryOutcome string

// Delivery outcomes.
const (
	Delivered DeliveryOutcome = "delivered" // 2xx from the next hop
	Deferred  DeliveryOutcome = "deferred"  // 4xx, connection or DNS trouble: retried later
	Failed    DeliveryOutcome = "failed"    // 5xx, null MX, expiry: bounced
)

// Caps on open-ended label values; the rest are counted under "other".
const (
	// MaxDomains is how many distinct destination domains get their own
	// label value.
	MaxDomains = 100
	// MaxReasons is how many distinct reject/tempfail reasons do.
	MaxReasons = 64
	// MaxNames caps listener and stage names (bounded by the config, but
	// a reload could add new ones forever).
	MaxNames = 64
)

// Other is the label value that stands for every value past a cap.
const Other = "other"

// StageHealth is one pipeline stage as the scrape sees it (the daemon maps
// pipeline.StageStatus onto it; this package does not import pipeline).
type StageHealth struct {
	Name     string
	Kind     string // plugin | milter | …
	State    string // running | down | starting | …
	Restarts int
}

// PebbleStats are the few numbers of pebble.DB.Metrics() worth scraping.
// The queue fills them; field names say which Pebble metric each is.
type PebbleStats struct {
	DiskBytes        uint64 // Metrics.DiskSpaceUsage()
	WALBytes         uint64 // WAL.Size (live data)
	WALBytesWritten  uint64 // WAL.BytesWritten (counter)
	MemtableBytes    uint64 // MemTable.Size
	BlockCacheBytes  int64  // BlockCache.Size
	BlockCacheHits   int64  // BlockCache.Hits (counter)
	BlockCacheMisses int64  // BlockCache.Misses (counter)
	Compactions      int64  // Compact.Count (counter)
	CompactionDebt   uint64 // Compact.EstimatedDebt
	Flushes          int64  // Flush.Count (counter)
	ReadAmp          int    // Metrics.ReadAmp()
	L0Files          int64  // Levels[0].TablesCount
	Tables           int64  // Total().TablesCount
}

// Providers are read at every scrape; any may be nil.
type Providers struct {
	// Queue returns the number of messages per state and the arrival time
	// of the oldest one (zero when the queue is empty). It runs on every
	// scrape, so it should be cheap: a counter the queue keeps, not a scan.
	Queue func() (counts map[string]int, oldest time.Time)
	// Stages returns each pipeline stage's health, in order.
	Stages func() []StageHealth
	// Pebble returns the queue database's statistics.
	Pebble func() PebbleStats
	// Clock is time.Now unless a test sets it (oldest-message age).
	Clock func() time.Time
}

// Metrics holds every Sluice metric in a private registry.
type Metrics struct {
	reg *prometheus.Registry
	// stageSeries holds StageCall's series by stageKey, looked up once:
	// a call per hook per stage is the hottest metric there is.
	stageSeries sync.Map

	connsTotal   *prometheus.CounterVec
	connsOpen    *prometheus.GaugeVec
	connsClosed  *prometheus.CounterVec
	proxyRefused *prometheus.CounterVec
	earlyTalkers *prometheus.CounterVec
	pipelining   *prometheus.CounterVec
	bareNewlines *prometheus.CounterVec
	authAttempts *prometheus.CounterVec
	transactions *prometheus.CounterVec
	recipients   *prometheus.CounterVec
	queueCommit  prometheus.Histogram

	deliveryAttempts   *prometheus.CounterVec
	deliveryRcpts      *prometheus.CounterVec
	deliveryFailures   *prometheus.CounterVec
	reports            *prometheus.CounterVec
	tlsReports         *prometheus.CounterVec
	deliveryDuration   *prometheus.HistogramVec
	deliveriesInFlight prometheus.Gauge
	rateDelayWaiting   prometheus.Gauge
	suspendedDomains   prometheus.Gauge

	stageCalls   *prometheus.CounterVec
	stageErrors  *prometheus.CounterVec
	stageLatency *prometheus.HistogramVec
	stageDryRun  *prometheus.CounterVec

	domains, reasons, names *capper
}

// New returns a Metrics whose registry holds Sluice's metrics, the
// scrape-time collectors for p, and the Go runtime and process collectors.
func New(p Providers) *Metrics {
	if p.Clock == nil {
		p.Clock = time.Now
	}
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		domains: newCapper(MaxDomains),
		reasons: newCapper(MaxReasons),
		names:   newCapper(MaxNames),

		connsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_connections_total", Help: "SMTP connections accepted, by listener."},
			[]string{"listener"}),
		connsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_smtp_connections_open", Help: "SMTP connections open now, by listener."},
			[]string{"listener"}),
		connsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_connections_closed_total",
			Help: "SMTP connections closed, by listener and reason: client_quit, client_hangup (closed or reset without QUIT), timeout (command_timeout, data_timeout, min_data_rate), too_many_errors (max_errors), too_many_messages (max_messages_per_connection), connection_limit (max_connections, max_connections_per_ip, connection_rate_per_ip), stage (a stage's 421 or 521, or its refusal at connect), shutdown, early_talker (greet_pause), pipelining (forbid_unauth_pipelining), bare_newline (a bare LF refused with 521), proxy (a PROXY header refused), tls (a failed TLS handshake), protocol (a command line over max_line_length, a BDAT without a valid size) or internal_error (a panic in Sluice's session code)."},
			[]string{"listener", "reason"}),
		proxyRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_proxy_headers_refused_total",
			Help: "Connections from a trusted proxy (proxy_protocol) closed for their PROXY header, by listener and reason (timeout, closed, malformed, too_long, checksum)."},
			[]string{"listener", "reason"}),
		earlyTalkers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_early_talkers_total",
			Help: "Connections refused for talking before the greeting (greet_pause), by listener."},
			[]string{"listener"}),
		pipelining: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_pipelining_violations_total",
			Help: "Connections refused for sending commands ahead of their turn (forbid_unauth_pipelining), by listener and the command the client should have waited after."},
			[]string{"listener", "after"}),
		bareNewlines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_bare_newlines_total",
			Help: "Messages whose DATA or BDAT content had a bare LF or CR, by listener and action: normalized (bare_newline = normalize: each bare LF stored as CRLF) or rejected (5.5.2: a bare LF under bare_newline = reject, with bare_newline_reject_code, 550 by default, from a client outside bare_newline_exclusions; or a bare CR, with 550)."},
			[]string{"listener", "action"}),
		authAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_auth_attempts_total",
			Help: "SMTP AUTH attempts by listener, mechanism (PLAIN, LOGIN, other) and result: success, failure (535: wrong credentials, or an auth hook's 5xx), tempfail (454: Dovecot unavailable, or an auth hook's 4xx) or locked (454: auth_failures_per_ip reached)."},
			[]string{"listener", "mechanism", "result"}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_transactions_total",
			Help: "SMTP mail transactions by listener, outcome (accepted, rejected, tempfailed, discarded, quarantined, aborted) and reason."},
			[]string{"listener", "outcome", "reason"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_smtp_recipients_total", Help: "RCPT TO commands by listener, outcome and reason."},
			[]string{"listener", "outcome", "reason"}),
		queueCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_queue_commit_seconds", Help: "Time to sync an accepted message to the queue, before the 250.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}),

		deliveryAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_delivery_attempts_total", Help: "Delivery transactions by destination (recipient domain, or the relay's host:port) and outcome."},
			[]string{"domain", "outcome"}),
		deliveryRcpts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_delivery_recipients_total", Help: "Recipient delivery results by destination (recipient domain, or the relay's host:port) and outcome."},
			[]string{"domain", "outcome"}),
		deliveryFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_delivery_failures_total",
			Help: "Recipient outcomes other than delivery, as the msg=recipient log lines: by status (deferred, bounced, expired) and class, the reply's bounce class (invalid_recipient, inactive_mailbox, bad_domain, invalid_sender, mailbox_full, message_too_large, spam_block, policy, auth_required, tls, routing, connection, protocol, content, admin, other)."},
			[]string{"class", "status"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_reports_total", Help: "Delivery status notifications queued (RFC 3464), by kind: dsn to a sender, double-bounce to the postmaster; plugin: messages plugins queued (sdk.Mailer)."},
			[]string{"kind"}),
		tlsReports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tlsrpt_reports_total",
			Help: "SMTP TLS reports (RFC 8460) by transport (mailto: queued, https: posted, dns: the TXT lookup) and result (sent, failed)."},
			[]string{"transport", "result"}),
		deliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_delivery_duration_seconds", Help: "Delivery attempt duration (MX lookup to the last reply), by outcome.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}},
			[]string{"outcome"}),
		deliveriesInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_delivery_in_flight", Help: "Delivery attempts running now."}),
		rateDelayWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_delivery_rate_delay_waiting",
			Help: "Messages promised a later start by their destination's rate delay (rate_delay), over all destinations."}),
		suspendedDomains: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_delivery_suspended_domains",
			Help: "Recipient domains whose delivery an administrator suspended (sluice queue suspend)."}),

		stageCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_stage_calls_total", Help: "Pipeline stage calls by stage, hook and verdict."},
			[]string{"stage", "hook", "verdict"}),
		stageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_stage_errors_total", Help: "Pipeline stage calls that failed (crash, timeout, protocol error), by stage and hook."},
			[]string{"stage", "hook"}),
		stageLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_stage_latency_seconds", Help: "Pipeline stage call latency by stage and hook.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"stage", "hook"}),
		stageDryRun: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_stage_dry_run_total",
			Help: "Answers of pipeline stages in dry run (dry_run), not applied, by stage, hook and the action they would have taken (or error)."},
			[]string{"stage", "hook", "action"}),
	}
	m.reg.MustRegister(
		m.connsTotal, m.connsOpen, m.connsClosed, m.proxyRefused, m.earlyTalkers, m.pipelining, m.bareNewlines, m.authAttempts, m.transactions, m.recipients, m.queueCommit,
		m.deliveryAttempts, m.deliveryRcpts, m.deliveryFailures, m.reports, m.tlsReports, m.deliveryDuration, m.deliveriesInFlight, m.rateDelayWaiting, m.suspendedDomains,
		m.stageCalls, m.stageErrors, m.stageLatency, m.stageDryRun,
		&scrapeCollector{p: p},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus exposition formats
// (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry returns the private registry, for tests and for adding
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ConnOpened counts an accepted SMTP connection on listener.
func (m *Metrics) ConnOpened(listener string) {
	if m == nil {
		return
	}
	l := m.names.value(listener)
	m.connsTotal.WithLabelValues(l).Inc()
	m.connsOpen.WithLabelValues(l).Inc()
}

// CloseReason is why an SMTP connection ended: who ended it, and for
// what. A closed set, so that an alert on clients being cut off (a
// stage's 421s, timeouts, the error limit) needs no log search; never
// anything the client sent.
type CloseReason string

// Reasons a connection ends.
const (
	CloseQuit            CloseReason = "client_quit"       // QUIT, answered 221
	CloseHangup          CloseReason = "client_hangup"     // closed or reset by the client without QUIT
	CloseTimeout         CloseReason = "timeout"           // command_timeout, data_timeout, min_data_rate: 421 4.4.2
	CloseTooManyErrors   CloseReason = "too_many_errors"   // max_errors (max_junk_commands past it): 421 4.7.0
	CloseTooManyMessages CloseReason = "too_many_messages" // max_messages_per_connection: 421 4.7.0
	CloseConnLimit       CloseReason = "connection_limit"  // max_connections, per IP, connection rate: 421 for a greeting
	CloseStage           CloseReason = "stage"             // a stage's or milter's 421 or 521, or its refusal at connect
	CloseShutdown        CloseReason = "shutdown"          // a stop, or a reload dropping the listener: 421 4.3.2
	CloseEarlyTalker     CloseReason = "early_talker"      // greet_pause: 554 5.5.0
	ClosePipelining      CloseReason = "pipelining"        // forbid_unauth_pipelining: 554 5.5.0
	CloseBareNewline     CloseReason = "bare_newline"      // a bare LF refused with bare_newline_reject_code 521
	CloseProxy           CloseReason = "proxy"             // a PROXY header refused (not a proxy's health check)
	CloseTLS             CloseReason = "tls"               // a failed TLS handshake, implicit or after STARTTLS
	CloseProtocol        CloseReason = "protocol"          // a command line over max_line_length, BDAT without a valid size, a non-SMTP command
	CloseInternal        CloseReason = "internal_error"    // a panic in Sluice's session code: 421 4.0.0
)

// ConnClosed is ConnOpened's pair, called once when the connection ends,
// and counts why it ended.
func (m *Metrics) ConnClosed(listener string, reason CloseReason) {
	if m == nil {
		return
	}
	l := m.names.value(listener)
	m.connsOpen.WithLabelValues(l).Dec()
	m.connsClosed.WithLabelValues(l, string(reason)).Inc()
}

// ProxyHeaderRefused counts a connection from a trusted proxy closed for
// its PROXY header; reason is one of a closed set (timeout, closed,
// malformed, too_long, checksum).
func (m *Metrics) ProxyHeaderRefused(listener, reason string) {
	if m == nil {
		return
	}
	m.proxyRefused.WithLabelValues(m.names.value(listener), reason).Inc()
}

// EarlyTalker counts a connection refused on listener for talking before
// its greeting (greet_pause).
func (m *Metrics) EarlyTalker(listener string) {
	if m == nil {
		return
	}
	m.earlyTalkers.WithLabelValues(m.names.value(listener)).Inc()
}

// PipeliningViolation counts a connection refused on listener for input
// sent after a command whose reply it had to wait for (RFC 2920 §3.1);
// after is that command's verb, one of a closed set (the verbs go-smtp
// knows, else "other").
func (m *Metrics) PipeliningViolation(listener, after string) {
	if m == nil {
		return
	}
	m.pipelining.WithLabelValues(m.names.value(listener), after).Inc()
}

// Actions of BareNewline.
const (
	BareNormalized = "normalized"
	BareRejected   = "rejected"
)

// BareNewline counts a message on listener whose content had a bare LF or
// CR, by what became of it: BareNormalized or BareRejected.
func (m *Metrics) BareNewline(listener, action string) {
	if m == nil {
		return
	}
	m.bareNewlines.WithLabelValues(m.names.value(listener), action).Inc()
}

// AuthResult is how an SMTP AUTH attempt ended.
type AuthResult string

// AUTH results.
const (
	AuthSuccess  AuthResult = "success"  // 235
	AuthFailure  AuthResult = "failure"  // 535: wrong credentials, or a permanent refusal
	AuthTempfail AuthResult = "tempfail" // 454: the check could not be made (Dovecot down)
	AuthLocked   AuthResult = "locked"   // 454: the address reached auth_failures_per_ip
)

// AuthAttempt counts one AUTH attempt on listener. mechanism is one of a
// closed set (the mechanisms Sluice offers, else "other": a client names
// any it likes, even its credentials). Never a user name: brute force
// would make a series per guess.
func (m *Metrics) AuthAttempt(listener, mechanism string, result AuthResult) {
	if m == nil {
		return
	}
	m.authAttempts.WithLabelValues(m.names.value(listener), mechanism, string(result)).Inc()
}

// Transaction counts a mail transaction's end. reason is a short bounded
// token for why a transaction was not accepted: the daemon gives the
// refusal's enhanced status code (RFC 3463, "5.7.1"), the same for a
// stage's refusal as for a built-in one: sluice_stage_calls_total is
// what names the refusing stage; "" for an accepted one. Reasons past
// MaxReasons count as "other".
func (m *Metrics) Transaction(listener string, outcome Outcome, reason string) {
	if m == nil {
		return
	}
	m.transactions.WithLabelValues(m.names.value(listener), string(outcome), m.reasons.value(reason)).Inc()
}

// Recipient counts one RCPT TO's answer, with the same reasons as
// Transaction.
func (m *Metrics) Recipient(listener string, outcome Outcome, reason string) {
	if m == nil {
		return
	}
	m.recipients.WithLabelValues(m.names.value(listener), string(outcome), m.reasons.value(reason)).Inc()
}

// QueueCommit observes how long syncing an accepted message to the queue
// took.
func (m *Metrics) QueueCommit(d time.Duration) {
	if m == nil {
		return
	}
	m.queueCommit.Observe(d.Seconds())
}

// DeliveryStarted marks an attempt in flight; call DeliveryAttempt when it
// ends.
func (m *Metrics) DeliveryStarted() {
	if m == nil {
		return
	}
	m.deliveriesInFlight.Inc()
}

// ReportQueued counts one delivery status notification queued, of kind
// "dsn" (to the sender) or "double-bounce" (to the postmaster), or one
// message a plugin queued ("plugin").
func (m *Metrics) ReportQueued(kind string) {
	if m == nil {
		return
	}
	m.reports.WithLabelValues(kind).Inc()
}

// TLSReport counts one SMTP TLS report (RFC 8460) sent, or not, by
// transport: "mailto" (queued), "https" (posted) or "dns" (its domain's
// TXT lookup failed).
func (m *Metrics) TLSReport(transport string, ok bool) {
	if m == nil {
		return
	}
	result := "sent"
	if !ok {
		result = "failed"
	}
	m.tlsReports.WithLabelValues(transport, result).Inc()
}

// RateDelayWaiting sets the number of messages waiting for a start a
// destination's rate delay promised them. Not by destination: their
// number is unbounded.
func (m *Metrics) RateDelayWaiting(n int) {
	if m == nil {
		return
	}
	m.rateDelayWaiting.Set(float64(n))
}

// SuspendedDomains sets the number of recipient domains whose delivery
// is suspended now.
func (m *Metrics) SuspendedDomains(n int) {
	if m == nil {
		return
	}
	m.suspendedDomains.Set(float64(n))
}

// DeliveryEnded ends a DeliveryStarted that made no attempt (its
// destination was in backoff), counting nothing else.
func (m *Metrics) DeliveryEnded() {
	if m == nil {
		return
	}
	m.deliveriesInFlight.Dec()
}

// DeliveryAttempt counts one delivery transaction to a destination, its
// outcome and duration: the recipient domain for MX delivery (not the MX
// host), and the next hop when there is no domain to speak of — the
// [delivery] relay's host:port, or a route's own destination. It also
// ends a DeliveryStarted.
func (m *Metrics) DeliveryAttempt(domain string, outcome DeliveryOutcome, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveriesInFlight.Dec()
	m.deliveryAttempts.WithLabelValues(m.domains.value(normDomain(domain)), string(outcome)).Inc()
	m.deliveryDuration.WithLabelValues(string(outcome)).Observe(d.Seconds())
}

// DeliveryRecipients counts n recipients of domain that reached outcome in
// one attempt.
func (m *Metrics) DeliveryRecipients(domain string, outcome DeliveryOutcome, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.deliveryRcpts.WithLabelValues(m.domains.value(normDomain(domain)), string(outcome)).Add(float64(n))
}

// DeliveryFailure counts one recipient outcome other than delivery:
// status is "deferred", "bounced" or "expired", class its bounce class
// (internal/bounceclass), both closed sets. Not by domain: the classes
// times the domains would be too many series.
func (m *Metrics) DeliveryFailure(class, status string) {
	if m == nil {
		return
	}
	m.deliveryFailures.WithLabelValues(class, status).Inc()
}

// StageCall counts one pipeline stage call at hook: its verdict
// ("continue", "reject", …, or "error" / "skipped" as the trace says),
// its latency, and whether it failed (crash, timeout, protocol error).
func (m *Metrics) StageCall(stage, hook, verdict string, latency time.Duration, failed bool) {
	if m == nil {
		return
	}
	k := stageKey{stage, hook, verdict}
	v, ok := m.stageSeries.Load(k)
	if !ok {
		s := m.names.value(stage)
		v, _ = m.stageSeries.LoadOrStore(k, &stageSeries{
			name:    s,
			calls:   m.stageCalls.WithLabelValues(s, hook, verdict),
			latency: m.stageLatency.WithLabelValues(s, hook),
		})
	}
	ss := v.(*stageSeries)
	ss.calls.Inc()
	ss.latency.Observe(latency.Seconds())
	if failed {
		m.stageErrors.WithLabelValues(ss.name, hook).Inc()
	}
}

// stageKey and stageSeries: see Metrics.stageSeries.
type stageKey struct{ stage, hook, verdict string }

type stageSeries struct {
	name    string // the stage's label value
	calls   prometheus.Counter
	latency prometheus.Observer
}

func normDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" {
		return "none"
	}
	return d
}

// capper hands out label values: the first n distinct values keep their
// own, every later one becomes Other. Seen values stay, so a series never
// changes its label.
type capper struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func newCapper(max int) *capper { return &capper{max: max, seen: map[string]struct{}{}} }

func (c *capper) value(v string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return Other
	}
	c.seen[v] = struct{}{}
	return v
}

// scrapeCollector turns the providers' answers into metrics at scrape time.
type scrapeCollector struct{ p Providers }

var (
	descQueue = prometheus.NewDesc("sluice_queue_messages",
		"Messages in the queue by state.", []string{"state"}, nil)
	descOldest = prometheus.NewDesc("sluice_queue_oldest_seconds",
		"Age of the oldest queued message (0 when the queue is empty).", nil, nil)
	descStageUp = prometheus.NewDesc("sluice_stage_up",
		"1 when the pipeline stage is running, 0 when it is down or restarting.", []string{"stage", "kind", "state"}, nil)
	descStageRestarts = prometheus.NewDesc("sluice_stage_restarts_total",
		"Restarts (plugins) or reconnections (milters) of a pipeline stage.", []string{"stage"}, nil)

	descPebble = map[string]*prometheus.Desc{}
)

func pebbleDesc(name, help string) *prometheus.Desc {
	d := prometheus.NewDesc("sluice_pebble_"+name, help, nil, nil)
	descPebble[name] = d
	return d
}

var (
	descDiskBytes      = pebbleDesc("disk_bytes", "Disk space used by the queue's Pebble database.")
	descWALBytes       = pebbleDesc("wal_bytes", "Live data in the write-ahead log.")
	descWALWritten     = pebbleDesc("wal_written_bytes_total", "Bytes written to the write-ahead log.")
	descMemtableBytes  = pebbleDesc("memtable_bytes", "Bytes allocated by memtables.")
	descCacheBytes     = pebbleDesc("block_cache_bytes", "Bytes in the block cache.")
	descCacheHits      = pebbleDesc("block_cache_hits_total", "Block cache hits.")
	descCacheMisses    = pebbleDesc("block_cache_misses_total", "Block cache misses.")
	descCompactions    = pebbleDesc("compactions_total", "Compactions run.")
	descCompactionDebt = pebbleDesc("compaction_debt_bytes", "Estimated bytes still to compact.")
	descFlushes        = pebbleDesc("flushes_total", "Memtable flushes.")
	descReadAmp        = pebbleDesc("read_amplification", "Read amplification (sublevels in L0 plus non-empty levels).")
	descL0Files        = pebbleDesc("l0_files", "Sstables in level 0.")
	descTables         = pebbleDesc("tables", "Sstables in every level.")
)

// queueStates are always exported, so a dashboard sees 0 rather than no
// series.
var queueStates = []string{"active", "held", "quarantined"}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueue
	ch <- descOldest
	ch <- descStageUp
	ch <- descStageRestarts
	for _, d := range descPebble {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.p.Queue != nil {
		counts, oldest := c.p.Queue()
		for _, s := range queueStates {
			ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(counts[s]), s)
		}
		for s, n := range counts {
			if !slices.Contains(queueStates, s) {
				ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n), s)
			}
		}
		age := 0.0
		if !oldest.IsZero() {
			age = max(c.p.Clock().Sub(oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	}
	if c.p.Stages != nil {
		for _, s := range c.p.Stages() {
			up := 0.0
			if s.State == "running" {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descStageUp, prometheus.GaugeValue, up, s.Name, s.Kind, s.State)
			ch <- prometheus.MustNewConstMetric(descStageRestarts, prometheus.CounterValue, float64(s.Restarts), s.Name)
		}
	}
	if c.p.Pebble != nil {
		p := c.p.Pebble()
		gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
		}
		gauge(descDiskBytes, float64(p.DiskBytes))
		gauge(descWALBytes, float64(p.WALBytes))
		counter(descWALWritten, float64(p.WALBytesWritten))
		gauge(descMemtableBytes, float64(p.MemtableBytes))
		gauge(descCacheBytes, float64(p.BlockCacheBytes))
		counter(descCacheHits, float64(p.BlockCacheHits))
		counter(descCacheMisses, float64(p.BlockCacheMisses))
		counter(descCompactions, float64(p.Compactions))
		gauge(descCompactionDebt, float64(p.CompactionDebt))
		counter(descFlushes, float64(p.Flushes))
		gauge(descReadAmp, float64(p.ReadAmp))
		gauge(descL0Files, float64(p.L0Files))
		gauge(descTables, float64(p.Tables))
	}
}

var _ prometheus.Collector = (*scrapeCollector)(nil)

// StageDryRun counts an answer of a stage in dry run: what it would have
// done (action), which was not applied.
func (m *Metrics) StageDryRun(stage, hook, action string) {
	if m == nil {
		return
	}
	m.stageDryRun.WithLabelValues(m.names.value(stage), hook, action).Inc()
}
