package delivery

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// Sending: once a UTC day is over (and a random part of tlsrptSpread
// more), each domain with results gets them, if its _smtp._tls TXT record
// asks for reports, at each of its rua addresses: mailto: as a message
// queued like a bounce, https: as a POST (RFC 8460 §3, §5).

const (
	// tlsrptSpread: reports go out within this time after midnight UTC,
	// each day at a random point of it, so that the senders of the world
	// do not all post at 00:00 (RFC 8460 §4.1: "after some delay").
	tlsrptSpread = 4 * time.Hour
	// tlsrptSaveEvery is how often changed counts are written to the
	// file: a crash loses at most this much of the day.
	tlsrptSaveEvery = 5 * time.Minute
	// tlsrptSenders is how many domains' reports go out at once.
	tlsrptSenders = 8
	// tlsrptMaxRUA bounds the addresses one domain's report goes to: a
	// record may not turn one report into a flood.
	tlsrptMaxRUA = 5
	// tlsrptPostTries and tlsrptRetryAfter bound the retries of a POST
	// that failed (RFC 8460 §5.5: redelivery is optional).
	tlsrptPostTries = 3
	tlsrptRetryWait = time.Minute
)

// tlsrptLookupRetry is how long a report waits after each _smtp._tls
// lookup that failed for a while (SERVFAIL, a timeout): RFC 8460 §5.5
// has a sender retry a report for up to 24 hours, with backoff. Four
// lookups in all, over the three and a half hours that follow the
// first, in the morning of the day after the one reported; then the
// report is dropped.
var tlsrptLookupRetry = []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour}

// tlsrptSpaceRetry is how long a mailed report the queue had no room for
// (queue_minfree) waits before it is tried again, the day kept, until
// tlsrptSpaceGiveUp after the day reported ended: RFC 8460 §5.5's 24
// hours of redelivery, counted from the earliest send time.
const (
	tlsrptSpaceRetry  = 30 * time.Minute
	tlsrptSpaceGiveUp = 24 * time.Hour
)

// Run sends each finished day's reports and saves the counts every few
// minutes, until ctx is done; then it saves them once more and returns.
func (r *TLSReports) Run(ctx context.Context) {
	save := time.NewTicker(tlsrptSaveEvery)
	defer save.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer r.save()
	spread := time.Duration(r.opt.Rand() * float64(tlsrptSpread))
	for {
		now := r.clock()
		for _, day := range r.finished(now, spread) {
			r.sendDay(ctx, day)
			r.save()
			if ctx.Err() != nil {
				return
			}
		}
		// Wake at the next send time or lookup retry; the injected
		// clock of a test is moved past it with Kick.
		next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Add(spread)
		if at, ok := r.nextRetry(); ok && at.Before(next) {
			next = at
		}
		timer.Reset(max(next.Sub(now), time.Second))
		select {
		case <-ctx.Done():
			return
		case <-save.C:
			r.save()
		case <-r.kick:
		case <-timer.C:
		}
	}
}

func (r *TLSReports) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opt.Clock().UTC()
}

// finished lists the days with results whose reports are due at now:
// over for spread already, or their sending begun before a restart (a
// retry scheduled). This run's spread is drawn afresh and may end
// later than such a retry, which would then wait for it, Run waking
// each second meanwhile.
func (r *TLSReports) finished(now time.Time, spread time.Duration) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var days []string
	for day, domains := range r.days {
		start, err := time.Parse(time.DateOnly, day)
		if err != nil || !now.Before(start.AddDate(0, 0, 1).Add(spread)) || retrying(domains) {
			days = append(days, day)
		}
	}
	slices.Sort(days)
	return days
}

// retrying reports whether one of domains has a retry scheduled (its
// TXT lookup, or its queueing).
func retrying(domains map[string]*tlsrptDomain) bool {
	for _, d := range domains {
		if !d.RetryAt.IsZero() {
			return true
		}
	}
	return false
}

// nextRetry is the earliest time a domain's report is to be retried, if
// one is.
func (r *TLSReports) nextRetry() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	for _, domains := range r.days {
		for _, d := range domains {
			if !d.RetryAt.IsZero() && (next.IsZero() || d.RetryAt.Before(next)) {
				next = d.RetryAt
			}
		}
	}
	return next, !next.IsZero()
}

// sendDay sends day's reports, tlsrptSenders domains at a time, but for
// those whose TXT lookup is to be retried later. Each domain is
// forgotten once its report went out or failed for good; a stop
// meanwhile leaves the rest for the next start.
func (r *TLSReports) sendDay(ctx context.Context, day string) {
	r.mu.Lock()
	now := r.opt.Clock()
	var names []string
	for n, d := range r.days[day] {
		if !d.RetryAt.After(now) {
			names = append(names, n)
		}
	}
	r.mu.Unlock()
	slices.Sort(names)
	sem := make(chan struct{}, tlsrptSenders)
	var wg sync.WaitGroup
	for _, name := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if r.sendDomain(ctx, day, name) {
				r.forget(day, name)
			}
		}()
	}
	wg.Wait()
	r.mu.Lock()
	if len(r.days[day]) == 0 {
		delete(r.days, day)
		delete(r.bytes, day)
		delete(r.dbytes, day)
		delete(r.full, day)
	}
	r.mu.Unlock()
}

// forget drops domain's results of day.
func (r *TLSReports) forget(day, domain string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.days[day], domain)
	r.dirty = true
}

// sendDomain sends domain's report of day to where its TLSRPT record
// says, and reports whether it is done with: sent, failed for good, or
// not asked for. false when a stop cut it short, or its TXT lookup or
// its queueing (the queue's disk short) is to be retried.
func (r *TLSReports) sendDomain(ctx context.Context, day, domain string) bool {
	r.mu.Lock()
	d := r.days[day][domain]
	var rep *tlsReport
	if d != nil {
		rep = r.report(day, domain, d)
	}
	id, res := r.opt.Identity, r.opt.Resolver
	r.mu.Unlock()
	if rep == nil {
		return true
	}
	log := r.opt.Logger.With("domain", domain, "day", day, "report_id", rep.ReportID)
	rua, ignored, err := lookupTLSRPT(ctx, res, domain)
	if len(ignored) > 0 {
		log.Warn("tlsrpt: rua entries of the TLSRPT record ignored", "ignored", ignored)
	}
	switch {
	case ctx.Err() != nil:
		return false
	case err != nil:
		// No record (NXDOMAIN, or no TXT) is an answer, err nil; a
		// temporary failure (SERVFAIL, a timeout) is retried a few
		// times (tlsrptLookupRetry).
		r.count("dns", false)
		if at, n, ok := r.retryLookup(day, domain, err); ok {
			log.Warn("tlsrpt: TXT lookup failed; will retry", "err", err, "failures", n, "retry_at", at)
			return false
		}
		log.Warn("tlsrpt: TXT lookup failed; report not sent", "err", err)
		return true
	case len(rua) == 0:
		log.Debug("tlsrpt: domain asks for no reports")
		return true
	}
	body, err := json.Marshal(rep)
	if err != nil {
		log.Error("tlsrpt: encoding the report", "err", err)
		return true
	}
	gz := gzipped(body)
	var mail generated
	var mailErr error
	mailto := mailtoDests(rua)
	if len(mailto) > 0 {
		// Made, and the queue's room for it asked, before any POST: a
		// report the queue has no room for is tried again whole later,
		// and its https: destinations should not get it twice.
		if mail, mailErr = r.reportMail(rep, id, mailto, gz); mailErr == nil {
			mailErr = mail.space.check(int64(len(mail.body)), mail.log, mail.what)
		}
		if mailErr != nil && r.mailFailed(log, day, domain, mailto, mailErr) {
			return false
		}
	}
	for _, u := range rua {
		if strings.HasPrefix(u, "mailto:") {
			continue
		}
		err := r.post(ctx, u, gz)
		if ctx.Err() != nil {
			return false
		}
		r.count("https", err == nil)
		if err != nil {
			log.Warn("tlsrpt: report not posted", "rua", u, "err", err)
		} else {
			log.Info("tlsrpt: report posted", "rua", u)
		}
	}
	if len(mailto) > 0 && mailErr == nil {
		qid, err := queueGenerated(ctx, r.opt.Queue, r.opt.Filter, mail)
		switch {
		case err != nil:
			// The disk filled while the POSTs went out: tried
			// again, POSTs and all, rather than lost.
			if r.mailFailed(log, day, domain, mailto, err) {
				return false
			}
		case qid != "":
			r.count("mailto", true)
			log.Info("tlsrpt: report queued", "report", qid, "to", mailto)
		default:
			r.count("mailto", true)
		}
	}
	return true
}

// mailtoDests are the addresses of rua's mailto: entries.
func mailtoDests(rua []string) []string {
	var out []string
	for _, u := range rua {
		if addr, ok := strings.CutPrefix(u, "mailto:"); ok {
			out = append(out, addr)
		}
	}
	return out
}

// mailFailed logs and counts domain's report of day not queued to to
// for err, and reports whether it is to be tried again: the queue's disk
// short (errDiskShort) within the retries' time (retrySpace).
func (r *TLSReports) mailFailed(log *slog.Logger, day, domain string, to []string, err error) bool {
	r.count("mailto", false)
	if !errors.Is(err, errDiskShort) {
		log.Error("tlsrpt: report not queued", "to", to, "err", err)
		return false
	}
	if at, ok := r.retrySpace(day, domain); ok {
		log.Warn("tlsrpt: report not queued, the queue's disk is short; will retry", "to", to, "err", err, "retry_at", at)
		return true
	}
	log.Error("tlsrpt: report not queued, the queue's disk is short; retries spent", "to", to, "err", err)
	return false
}

// retrySpace schedules domain's report of day to be sent again after the
// queue had no room for it, and returns when; false once that would be
// past tlsrptSpaceGiveUp after the day's end.
func (r *TLSReports) retrySpace(day, domain string) (time.Time, bool) {
	start, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.days[day][domain]
	at := r.opt.Clock().UTC().Add(tlsrptSpaceRetry)
	if d == nil || at.After(start.AddDate(0, 0, 1).Add(tlsrptSpaceGiveUp)) {
		return time.Time{}, false
	}
	d.RetryAt = at
	r.dirty = true
	return at, true
}

// retryLookup schedules domain's next TXT lookup for day's report after
// the failure err, and returns when it is due and how many lookups
// failed; false when err is no temporary failure or the retries are
// spent.
func (r *TLSReports) retryLookup(day, domain string, err error) (time.Time, int, bool) {
	if !dnsresolve.IsTemporary(err) {
		return time.Time{}, 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.days[day][domain]
	if d == nil || d.LookupFailures >= len(tlsrptLookupRetry) {
		return time.Time{}, 0, false
	}
	d.RetryAt = r.opt.Clock().UTC().Add(tlsrptLookupRetry[d.LookupFailures])
	d.LookupFailures++
	r.dirty = true
	return d.RetryAt, d.LookupFailures, true
}

func (r *TLSReports) count(transport string, ok bool) {
	if r.opt.Metrics != nil {
		r.opt.Metrics.TLSReport(transport, ok)
	}
}

// tlsReport is the report (RFC 8460 §4.4).
type tlsReport struct {
	OrganizationName string `json:"organization-name"`
	DateRange        struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	} `json:"date-range"`
	ContactInfo string          `json:"contact-info"`
	ReportID    string          `json:"report-id"`
	Policies    []*tlsrptResult `json:"policies"`

	domain     string
	start, end time.Time
	uid        string // the file name's unique-id
}

// report is domain's report of day, a copy of d's results. r.mu is held.
func (r *TLSReports) report(day, domain string, d *tlsrptDomain) *tlsReport {
	id := r.opt.Identity
	start, _ := time.Parse(time.DateOnly, day)
	end := start.AddDate(0, 0, 1).Add(-time.Second)
	rep := &tlsReport{OrganizationName: id.TLSRPTOrganization, ContactInfo: id.TLSRPTContact,
		// A msg-id's left and right sides (RFC 5322 §3.6.4), as the
		// report's Subject writes it (RFC 8460 §5.3).
		ReportID: start.Format("20060102") + "." + d.ID + "@" + id.TLSRPTSubmitter,
		domain:   domain, start: start, end: end, uid: d.ID}
	rep.DateRange.Start = start.Format(time.RFC3339)
	rep.DateRange.End = end.Format(time.RFC3339)
	rep.Policies = []*tlsrptResult{}
	for _, res := range d.Results {
		c := *res
		c.Policy.String = slices.Clone(res.Policy.String)
		c.Policy.MXHost = slices.Clone(res.Policy.MXHost)
		c.FailureDetails = make([]*tlsrptFailure, len(res.FailureDetails))
		for i, f := range res.FailureDetails {
			g := *f
			c.FailureDetails[i] = &g
		}
		rep.Policies = append(rep.Policies, &c)
	}
	return rep
}

// fileName is the report's file name (RFC 8460 §5.1).
func (rep *tlsReport) fileName(submitter string) string {
	return fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", submitter, rep.domain, rep.start.Unix(), rep.end.Unix(), rep.uid)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// post sends the gzipped report to an https: rua (RFC 8460 §5.4),
// trying again a few times when it fails.
func (r *TLSReports) post(ctx context.Context, uri string, gz []byte) error {
	var err error
	for try := 1; ; try++ {
		if err = r.postOnce(ctx, uri, gz); err == nil || try == tlsrptPostTries {
			return err
		}
		t := time.NewTimer(time.Duration(try) * tlsrptRetryWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (r *TLSReports) postOnce(ctx context.Context, uri string, gz []byte) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP status %s", resp.Status)
	}
	return nil
}

// httpClient is the configured client, or one with the system roots
// resolving through [dns] (httpsClient); either follows no redirect,
// which would turn the POST into a GET.
func (r *TLSReports) httpClient() *http.Client {
	r.mu.Lock()
	opt := r.opt // Reconfigure may change the resolver meanwhile
	r.mu.Unlock()
	var c http.Client
	if opt.HTTPClient != nil {
		c = *opt.HTTPClient
	} else {
		c = httpsClient(opt.rootCAs, httpsDialer{res: opt.Resolver})
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}
