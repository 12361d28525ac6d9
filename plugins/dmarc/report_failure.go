package dmarc

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/sdk"
)

// Failure reports (RFC 7489 §7.3): the data hook decides, per author
// domain, whether the domain's fo= asks for a report about the message,
// and hands what the report needs to a goroutine that verifies the ruf=
// destinations and queues the report through the core's Mailer. The hook
// never waits on DNS or the Mailer; a report that cannot go is logged
// and dropped, never retried: it is about one message, and a late copy
// helps no one.

const (
	// failureWorkers bounds the reports being sent at once; one more is
	// dropped with a log line rather than queued behind them, so that a
	// flood of failing mail costs a bounded number of goroutines.
	failureWorkers = 8
	// failureMaxDomains bounds the rate limit's table: when it is full
	// of domains reported on in the last hour, a new domain gets none.
	failureMaxDomains = 10000
	// failureTimeout bounds one report's destination checks and Send.
	failureTimeout = time.Minute
)

// failureReporter sends the failure reports.
type failureReporter struct {
	cfg        FailureReportsConfig
	authservID string // the Authentication-Results field's
	limit      int    // reports per policy domain per hour
	mailer     sdk.Mailer
	res        *dnsresolve.Resolver
	clock      func() time.Time
	log        *slog.Logger

	slots chan struct{}  // one per report being sent
	wg    sync.WaitGroup // the reports being sent (tests wait on it)

	mu      sync.Mutex
	windows map[string]*rateWindow // by policy domain
}

// rateWindow counts one policy domain's reports in the hour from start.
type rateWindow struct {
	start time.Time
	n     int
}

// failureCase is what a failure report says about one author domain of
// a message.
type failureCase struct {
	domain       string // the author domain: Reported-Domain
	policyDomain string // where the record was found: rate limit, §7.1 check
	ruf          []string
	dmarc        sdk.AuthResult // the stage's dmarc result for domain
	aligned      []string       // the methods with an aligned pass: Identity-Alignment
	dkim         *sdk.AuthResult
}

// due says whether the domain's record asks for a failure report about
// the message, from the judge's verdict dv and the earlier stages'
// results. Only a completed evaluation is reported: a domain without a
// record or without ruf=, and a temperror (the evaluation may end
// otherwise at the retry), get none.
func (r *failureReporter) due(domain string, f discovery, dv sdk.Verdict, results []sdk.AuthResult) (failureCase, bool) {
	rec := f.rec
	if f.err != nil || rec == nil || len(rec.RUF) == 0 || len(dv.AuthResults) == 0 {
		return failureCase{}, false
	}
	ar := dv.AuthResults[0]
	if ar.Result != ResultPass && ar.Result != ResultFail {
		return failureCase{}, false
	}
	m := mechanisms(domain, rec, results)
	fo := foOptions(rec.FO)
	// RFC 7489 §6.3 fo=: 0, all mechanisms fail to give an aligned pass;
	// 1, any does; d, a DKIM signature failed evaluation, and s, SPF
	// failed, whether aligned or not.
	want := fo['0'] && !m.spfAligned && !m.dkimAligned ||
		fo['1'] && (!m.spfAligned || !m.dkimAligned) ||
		fo['d'] && m.dkimFailed ||
		fo['s'] && m.spfFailed
	if !want {
		return failureCase{}, false
	}
	fc := failureCase{domain: domain, policyDomain: f.at, ruf: rec.RUF, dmarc: ar, dkim: m.dkimNamed}
	if m.dkimAligned {
		fc.aligned = append(fc.aligned, "dkim")
	}
	if m.spfAligned {
		fc.aligned = append(fc.aligned, "spf")
	}
	return fc, true
}

// foOptions reads fo=: a colon-separated list of 0, 1, d and s (RFC 7489
// §6.3); unknown options are ignored, and none known means 0.
func foOptions(fo string) map[byte]bool {
	out := map[byte]bool{}
	for _, o := range strings.Split(fo, ":") {
		if o = strings.ToLower(strings.TrimSpace(o)); len(o) == 1 && strings.Contains("01ds", o) {
			out[o[0]] = true
		}
	}
	if len(out) == 0 {
		out['0'] = true
	}
	return out
}

// mechanismResults is what the SPF and DKIM results say of the author
// domain, as fo= asks it.
type mechanismResults struct {
	spfAligned, dkimAligned bool
	spfFailed, dkimFailed   bool
	// dkimNamed is the signature the report names (DKIM-Domain,
	// DKIM-Identity, DKIM-Selector): the first that failed, else the
	// first that did not give an aligned pass, else the first. RFC 7489
	// §7.3.1 requires the fields whenever the message was signed.
	dkimNamed *sdk.AuthResult
}

// mechanisms reads the results as evaluate does (the SPF identity DMARC
// uses, each DKIM signature's d=). A failed evaluation is a "fail"
// result (RFC 8601 §2.7.1, §2.7.2): RFC 6651 and 6652 report fail by
// default, not neutral, softfail or errors.
func mechanisms(from string, rec *Record, results []sdk.AuthResult) mechanismResults {
	var m mechanismResults
	var unaligned, first *sdk.AuthResult
	spfProp := spfIdentity(results)
	for i := range results {
		r := &results[i]
		res := strings.ToLower(r.Result)
		switch r.Method {
		case "dkim":
			d := normalize(r.Props["header.d"])
			pass := res == "pass" && d != "" && align(from, d, rec.StrictDKIM)
			m.dkimAligned = m.dkimAligned || pass
			if first == nil && d != "" {
				first = r
			}
			switch {
			case res == ResultFail:
				m.dkimFailed = true
				if m.dkimNamed == nil && d != "" {
					m.dkimNamed = r
				}
			case !pass && d != "" && unaligned == nil:
				unaligned = r
			}
		case "spf":
			v, ok := r.Props[spfProp]
			if !ok {
				continue
			}
			d := normalize(addrDomain(v))
			m.spfAligned = m.spfAligned || res == "pass" && d != "" && align(from, d, rec.StrictSPF)
			m.spfFailed = m.spfFailed || res == ResultFail
		}
	}
	if m.dkimNamed == nil {
		m.dkimNamed = unaligned
	}
	if m.dkimNamed == nil {
		m.dkimNamed = first
	}
	return m
}

// report starts the reports of a message's cases, unless its envelope
// sender is null: a failure report is itself sent from <>, and a
// receiver that reported on it in turn could start a loop between two
// reporters (RFC 3834 §2's concern; RFC 7489 is silent and opendmarc
// does not skip them).
func (r *failureReporter) report(t *sdk.Txn, m *sdk.Message, cases []failureCase, action sdk.Action) {
	if t.Envelope.MailFrom == "" {
		return
	}
	now := r.clock()
	for _, fc := range cases {
		log := r.log.With("domain", fc.domain, "policy_domain", fc.policyDomain, "client", t.Session.ClientIP)
		select {
		case r.slots <- struct{}{}:
		default:
			log.Warn("dmarc failure reports: too many being sent, report dropped", "sending", failureWorkers)
			continue
		}
		if !r.allow(fc.policyDomain, now) {
			<-r.slots
			log.Info("dmarc failure reports: over max_per_domain_per_hour, report dropped", "max", r.limit)
			continue
		}
		// Taken now: the message and the transaction may share buffers
		// the SDK reuses once the hook has returned.
		fr := newFailureReport(fc, t, m, action, now, r.cfg, r.authservID)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.slots }()
			r.send(fr, log)
		}()
	}
}

// allow takes one report from domain's allowance of the hour; false when
// it is spent. Each domain's hour starts at its first report.
func (r *failureReporter) allow(domain string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.windows[domain]
	if w == nil || now.Sub(w.start) >= time.Hour || now.Before(w.start) {
		if w == nil && len(r.windows) >= failureMaxDomains {
			for d, o := range r.windows {
				if now.Sub(o.start) >= time.Hour || now.Before(o.start) {
					delete(r.windows, d)
				}
			}
			if len(r.windows) >= failureMaxDomains {
				return false
			}
		}
		w = &rateWindow{start: now}
		r.windows[domain] = w
	}
	if w.n >= r.limit {
		return false
	}
	w.n++
	return true
}

// send verifies the ruf= destinations and queues the report, logging
// what became of it.
func (r *failureReporter) send(fr *failureReport, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), failureTimeout)
	defer cancel()
	dests, ignored := parseRUA(fr.ruf)
	if len(ignored) > 0 {
		log.Warn("dmarc failure reports: ruf entries ignored", "ignored", ignored)
	}
	// RFC 7489 §7.1, as for the aggregate reports: a destination outside
	// the policy domain's organizational domain must say it takes them.
	var ok []ruaDest
	for _, d := range dests {
		good, err := verifyDest(ctx, r.res, fr.policyDomain, d)
		switch {
		case err != nil:
			log.Warn("dmarc failure reports: external destination not verified, dropped", "to", d.addr, "err", err)
		case !good:
			log.Warn("dmarc failure reports: external destination does not take reports about the domain (no v=DMARC1 record at "+
				fr.policyDomain+"._report._dmarc."+addrDomain(d.addr)+"), dropped", "to", d.addr)
		default:
			ok = append(ok, d)
		}
	}
	msg := fr.message(addrs(ok))
	fits, over := bySize(ok, len(msg))
	for _, d := range over {
		log.Info("dmarc failure reports: report over the destination's size limit, not sent there", "to", d.addr, "limit", d.limit, "size", len(msg))
	}
	if len(fits) == 0 {
		log.Info("dmarc failure reports: no destination to send the report to")
		return
	}
	if len(fits) < len(ok) {
		msg = fr.message(addrs(fits))
	}
	qid, err := r.mailer.Send(ctx, sdk.OutgoingMessage{From: "", To: addrs(fits), Message: msg})
	if err != nil {
		log.Error("dmarc failure reports: report not queued, dropped", "to", addrs(fits), "err", err)
		return
	}
	log.Info("dmarc failure reports: report queued", "queue_id", qid, "to", addrs(fits))
}
