package delivery

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
)

// SMTP TLS Reporting (RFC 8460): MX delivery counts, per recipient domain
// and UTC day, the TLS sessions it negotiated and those that failed, under
// the policy that applied (MTA-STS, DANE or none); once the day is over,
// each domain that publishes a _smtp._tls TXT record gets the day's report
// (tlsrpt_send.go). The counts live in memory and in a file of data_dir
// (tlsrpt_file.go), saved every few minutes and at stop: one write per
// delivery would cost the hot path a sync.

// TLSReportQueue is where reports to mailto: addresses are queued
// (*queue.Store).
type TLSReportQueue interface {
	NewID() string
	EnqueueMany(qs []queue.Queued) error
}

// TLSReportOptions configure TLSReports.
type TLSReportOptions struct {
	// Identity is [delivery]'s tls_rpt keys, defaults filled in
	// (config.TLSReporting.Identity).
	Identity config.TLSReporting
	Hostname string // this host's name, for the trace field of a mailed report
	// Path is the file the counts are kept in across restarts; "" keeps
	// them in memory only.
	Path     string
	Resolver *dnsresolve.Resolver // for the _smtp._tls TXT records
	Queue    TLSReportQueue       // mailto: reports are queued here
	// Filter runs a mailed report through the pipeline's bounce hook, as
	// every report Sluice generates (BounceOptions.Filter).
	Filter func(ctx context.Context, report *envelope.Message, body []byte) (pipeline.BounceResult, error)
	// FreeSpace reports the bytes free for the queue (queue.Store's): a
	// mailed report that would leave fewer than MinFree() (queue_minfree
	// as it runs now; a reload changes it) is not queued but tried again
	// later (tlsrptSpaceRetry), as plugin mail is refused. Nil FreeSpace
	// or MinFree, or a negative MinFree(): no check.
	FreeSpace func() (int64, error)
	MinFree   func() int64
	// HTTPClient posts https: reports; default one with the system roots
	// and a minute's timeout, resolving names through Resolver.
	HTTPClient *http.Client
	// rootCAs are the default client's roots: a test's CA; nil the
	// system's.
	rootCAs *x509.CertPool
	Clock   func() time.Time // default time.Now
	// Rand spreads the sending over the first hours of the next day
	// (RFC 8460 §4.1 asks for "some delay"); default math/rand.
	Rand    func() float64
	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Bounds on what one day may hold: recipient domains are chosen by
// whoever sends mail (or forges the sender a bounce goes to), so neither
// their number nor the policies and failures each collects may grow
// without limit. What does not fit is counted in the domain's summary
// when it can be, and otherwise dropped, with a warning once a day.
const (
	tlsrptMaxDomains  = 10000
	tlsrptMaxPolicies = 16 // per domain
	tlsrptMaxDetails  = 64 // failure details per policy
	// tlsrptMaxBytes bounds the text one day holds in policies, and
	// again in failure details, whose names and greeting the receiving
	// servers choose, up to hundreds of bytes each. Two bounds: details
	// that fill theirs leave room for the summaries of more policies.
	tlsrptMaxBytes  = 16 << 20
	tlsrptMaxReason = 120 // bytes of a failure-reason-code
)

// TLSReports collects TLS session results for RFC 8460 reports and sends
// them. Create it with NewTLSReports, hand it to the agents (Options.
// TLSReports) and run it with Run. It outlives a reload's agents.
type TLSReports struct {
	kick chan struct{}

	mu     sync.Mutex
	opt    TLSReportOptions
	days   map[string]map[string]*tlsrptDomain // by day "2006-01-02", then domain
	bytes  map[string]int                      // per day: policy text held
	dbytes map[string]int                      // per day: failure details' text held
	full   map[string]bool                     // per day: a bound was hit and logged
	dirty  bool                                // changed since the file was written
}

// tlsrptDomain is one domain's results of one day.
type tlsrptDomain struct {
	// ID makes the report's id and file name unique; chosen when the
	// domain's first result of the day comes, and kept in the file, so
	// that a report sent again after a crash has the id it had.
	ID      string          `json:"id"`
	Results []*tlsrptResult `json:"results"`
	// LookupFailures counts the _smtp._tls lookups that failed for a
	// while (tlsrptLookupRetry) and RetryAt is when the next is due, or
	// the next try of a report the queue had no room for
	// (tlsrptSpaceRetry); kept in the file, so that a restart neither
	// resets the count nor tries again before then.
	LookupFailures int       `json:"lookup_failures,omitempty"`
	RetryAt        time.Time `json:"retry_at,omitzero"`
}

// tlsrptResult is one policy's entry of a report (RFC 8460 §4.4).
type tlsrptResult struct {
	Policy         tlsrptPolicy     `json:"policy"`
	Summary        tlsrptSummary    `json:"summary"`
	FailureDetails []*tlsrptFailure `json:"failure-details"`
}

// tlsrptPolicy is the policy a result is about (RFC 8460 §4.4):
// policy-type "sts" with the policy's text and mx patterns, "tlsa" with
// the MX host's TLSA records and its name, or "no-policy-found".
type tlsrptPolicy struct {
	Type   string   `json:"policy-type"`
	String []string `json:"policy-string,omitempty"`
	Domain string   `json:"policy-domain"`
	MXHost []string `json:"mx-host,omitempty"`
}

type tlsrptSummary struct {
	Success int64 `json:"total-successful-session-count"`
	Failure int64 `json:"total-failure-session-count"`
}

// tlsrptFailure counts the failed sessions of one kind between one pair
// of addresses (RFC 8460 §4.4's failure-details).
type tlsrptFailure struct {
	ResultType    string `json:"result-type"`
	SendingIP     string `json:"sending-mta-ip,omitempty"`
	MXHostname    string `json:"receiving-mx-hostname,omitempty"`
	MXHelo        string `json:"receiving-mx-helo,omitempty"`
	ReceivingIP   string `json:"receiving-ip,omitempty"`
	Count         int64  `json:"failed-session-count"`
	ReasonCode    string `json:"failure-reason-code,omitempty"`
	AdditionalURI string `json:"additional-information,omitempty"`
}

// sameAs reports whether f and g count the same kind of failure.
func (f *tlsrptFailure) sameAs(g *tlsrptFailure) bool {
	x, y := *f, *g
	x.Count, y.Count = 0, 0
	return x == y
}

// NewTLSReports returns the collector, with the counts its file kept.
func NewTLSReports(opt TLSReportOptions) *TLSReports {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Rand == nil {
		opt.Rand = mathrand.Float64
	}
	r := &TLSReports{kick: make(chan struct{}, 1), opt: opt,
		days: map[string]map[string]*tlsrptDomain{}, bytes: map[string]int{}, dbytes: map[string]int{}, full: map[string]bool{}}
	r.load()
	return r
}

// Reconfigure applies a reload's tls_rpt keys and resolver.
func (r *TLSReports) Reconfigure(id config.TLSReporting, res *dnsresolve.Resolver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opt.Identity, r.opt.Resolver = id, res
}

// Kick makes Run look for days to report now, as after a test moved its
// clock past midnight.
func (r *TLSReports) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// dayOf names t's UTC day.
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// add counts one session under policy p at now: a success when f is nil,
// else the failure f. A nil r or p counts nothing.
func (r *TLSReports) add(p *rptPolicy, f *tlsrptFailure) {
	if r == nil || p == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	day := dayOf(r.opt.Clock())
	res := r.result(day, p)
	if res == nil {
		return
	}
	r.dirty = true
	if f == nil {
		res.Summary.Success++
		return
	}
	res.Summary.Failure += f.Count
	for _, g := range res.FailureDetails {
		if g.sameAs(f) {
			g.Count += f.Count
			return
		}
	}
	if len(res.FailureDetails) >= tlsrptMaxDetails {
		r.warnFull(day, "failure details of one policy", p.domain)
		return // counted in the summary only
	}
	if r.dbytes[day]+f.size() > tlsrptMaxBytes {
		r.warnFull(day, "failure details", p.domain)
		return // counted in the summary only
	}
	r.dbytes[day] += f.size()
	g := *f
	res.FailureDetails = append(res.FailureDetails, &g)
}

// size is what f counts for in its day's dbytes: its text.
func (f *tlsrptFailure) size() int {
	return len(f.ResultType) + len(f.SendingIP) + len(f.MXHostname) + len(f.MXHelo) +
		len(f.ReceivingIP) + len(f.ReasonCode) + len(f.AdditionalURI)
}

// result is the entry of policy p on day, made if need be; nil when a
// bound leaves no room for it. r.mu is held.
func (r *TLSReports) result(day string, p *rptPolicy) *tlsrptResult {
	domains := r.days[day]
	if domains == nil {
		domains = map[string]*tlsrptDomain{}
		r.days[day] = domains
	}
	d := domains[p.domain]
	if d == nil {
		if len(domains) >= tlsrptMaxDomains {
			r.warnFull(day, "domains", p.domain)
			return nil
		}
		d = &tlsrptDomain{ID: uniqueID()}
		domains[p.domain] = d
	}
	for _, res := range d.Results {
		if p.is(&res.Policy) {
			return res
		}
	}
	if len(d.Results) >= tlsrptMaxPolicies || r.bytes[day]+p.size > tlsrptMaxBytes {
		r.warnFull(day, "policies", p.domain)
		return nil
	}
	r.bytes[day] += p.size
	res := &tlsrptResult{Policy: p.json(), FailureDetails: []*tlsrptFailure{}}
	d.Results = append(d.Results, res)
	return res
}

// warnFull logs, once a day, that a bound dropped results. r.mu is held.
func (r *TLSReports) warnFull(day, what, domain string) {
	if r.full[day] {
		return
	}
	r.full[day] = true
	r.opt.Logger.Warn("tlsrpt: too many results for one day; the excess is not reported", "day", day, "bound", what, "domain", domain)
}

// uniqueID is a random token of letters and digits (RFC 8460 §5.1's
// unique-id).
func uniqueID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Today returns the reports that would be sent for the day so far, one
// per domain in name order (GET /api/tlsrpt); they say nothing of
// whether the domain asks for reports.
func (r *TLSReports) Today() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	day := dayOf(r.opt.Clock())
	out := []any{}
	domains := r.days[day]
	names := make([]string, 0, len(domains))
	for n := range domains {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, r.report(day, n, domains[n]))
	}
	return out
}
