package dmarc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/atomicfile"
	"github.com/sluice-mta/sluice/sdk"
)

// Sending: once a UTC day is over (and a random part of reportSpread
// more), each policy domain of the day's history gets its report at the
// rua= addresses its record gave (RFC 7489 §7.2), queued through the
// core's Mailer. A per-day progress file lists the domains done, so that
// a restart in the middle of a day's reports sends none twice; the day's
// files are removed once every domain is done.

const (
	// reportSpread: reports go out within this time after midnight UTC,
	// each process at a random point of it, so that the reporters of
	// the world do not all send at 00:00.
	reportSpread = 2 * time.Hour
	// reportTries bounds the attempts at one domain's report: a DNS
	// failure verifying a destination or a Send that failed is retried
	// after reportRetry, then the report is dropped with a log line.
	reportTries = 3
	// reportKeepDays: a history older than this (a long stop, a Mailer
	// that never worked) is dropped unsent; a report that old is of no
	// use to the domain owner.
	reportKeepDays = 7
	dayLayout      = time.DateOnly
)

// reportRetry is the wait after each failed attempt but the last.
var reportRetry = []time.Duration{30 * time.Minute, 2 * time.Hour}

// reportStartWait bounds the wait of a process's first pass for the
// stage's first message (coreRunning). The core takes no plugin mail
// before Configure has returned (the Mailer dials then) nor while the
// daemon is still starting its stages: a pass at once made a finished
// day's reports fail at every daemon start, a try spent and the rest
// 30 minutes away. A message reaching the stage means the core runs;
// with none, the wait ends after this long.
var reportStartWait = time.Minute

// reporter records the history and sends the reports.
type reporter struct {
	cfg    ReportsConfig
	dir    string
	mailer sdk.Mailer
	res    *dnsresolve.Resolver
	clock  func() time.Time
	delay  time.Duration // after midnight UTC, before the reports go
	log    *slog.Logger

	mu     sync.Mutex // appends to the history, and the hist fields
	sendMu sync.Mutex // one pass at a time

	// histBytes is the history's size as last measured plus what was
	// appended since; histMeasured is when it was measured; fullDay is
	// the day whose evaluations were last dropped (historyRoom).
	histBytes    int64
	histMeasured time.Time
	fullDay      string
	// histDay's file was histDaySize bytes when last written or
	// measured by this process (noteDaySize).
	histDay     string
	histDaySize int64

	running     chan struct{} // closed at the stage's first message
	runningOnce sync.Once
}

// coreRunning says the core runs, and takes plugin mail: a message
// reached the stage. The first pass waits for it (reportStartWait).
func (r *reporter) coreRunning() {
	r.runningOnce.Do(func() { close(r.running) })
}

// domainProgress is where one domain's report of a day stands.
type domainProgress struct {
	Done     bool      `json:"done,omitempty"`
	Failures int       `json:"failures,omitempty"`
	RetryAt  time.Time `json:"retry_at,omitzero"`
	// Sent are the destinations a message of an earlier attempt went
	// to (byCharset: a report may be two messages), not sent again.
	Sent []string `json:"sent,omitempty"`
}

// run sends the reports as they fall due until ctx is done. The plugin
// has no stop hook: the goroutine ends with the process, all it knows
// being on disk.
func (r *reporter) run(ctx context.Context) {
	timer := time.NewTimer(reportStartWait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return
	case <-r.running:
	case <-timer.C:
	}
	for {
		next := r.pass(ctx)
		timer.Reset(max(next.Sub(r.clock()), time.Minute))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// pass sends what is due at the clock's time and returns when the next
// thing falls due.
func (r *reporter) pass(ctx context.Context) time.Time {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	now := r.clock().UTC()
	// A reload that changes the stage starts its new process while the
	// old one finishes its sessions, both with this directory: the
	// state directory's lock lets one of them send at a time, else both
	// read the same progress and send the same reports.
	unlock, ok := r.lockSend()
	if !ok {
		return now.Add(time.Minute)
	}
	defer unlock()
	// The key is read again under the lock: the other process of a
	// reload may have made (or replaced) the file after this one read
	// it at its start, and a report is named by the key on disk, the
	// one every later attempt reads, never by a copy only this process
	// holds.
	key, err := reportIDKey(r.dir, r.log)
	if err != nil {
		r.log.Error("dmarc reports: reading the report ID key; will retry", "err", err)
		return now.Add(reportRetry[0])
	}
	r.cfg.idKey = key
	today := now.Truncate(24 * time.Hour)
	next := today.Add(24*time.Hour + r.delay)
	for _, day := range r.historyDays() {
		start, err := time.Parse(dayLayout, day)
		if err != nil {
			continue
		}
		if start.Before(today.AddDate(0, 0, -reportKeepDays)) {
			r.log.Warn("dmarc reports: history too old, dropped unsent", "day", day)
			r.removeDay(day)
			continue
		}
		due := start.Add(24*time.Hour + r.delay)
		if now.Before(due) {
			next = minTime(next, due)
			continue
		}
		if at, pending := r.sendDay(ctx, day, start, now); pending {
			next = minTime(next, at)
		}
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// historyDays lists the days with a history file, oldest first.
func (r *reporter) historyDays() []string {
	names, _ := filepath.Glob(filepath.Join(r.dir, "history-*.jsonl"))
	var days []string
	for _, n := range names {
		days = append(days, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "history-"), ".jsonl"))
	}
	slices.Sort(days)
	return days
}

// sendDay sends day's reports that are due, and says when the earliest
// of those still pending is to be retried.
func (r *reporter) sendDay(ctx context.Context, day string, start, now time.Time) (time.Time, bool) {
	byDomain, order, err := r.readDay(day)
	if err != nil {
		// Kept for a later pass: a history that cannot be read now (an
		// I/O error, too many open files) is not one that is done.
		r.log.Error("dmarc reports: reading the history; will retry", "day", day, "err", err)
		return now.Add(reportRetry[0]), true
	}
	prog := r.loadProgress(day)
	var next time.Time
	pending := false
	for _, domain := range order {
		st := prog[domain]
		if st == nil {
			st = &domainProgress{}
			prog[domain] = st
		}
		if st.Done {
			continue
		}
		if st.RetryAt.After(now) {
			if !pending || st.RetryAt.Before(next) {
				next = st.RetryAt
			}
			pending = true
			continue
		}
		r.sendDomain(ctx, byDomain[domain].report(r.cfg, domain, start), st, now, func() { r.saveProgress(day, prog) })
		r.saveProgress(day, prog)
		if !st.Done {
			if !pending || st.RetryAt.Before(next) {
				next = st.RetryAt
			}
			pending = true
		}
	}
	if !pending {
		r.removeDay(day)
	}
	return next, pending
}

// historyMaxLine bounds a history line; a longer one (not one the stage
// wrote) is skipped whole, and the lines after it are read.
const historyMaxLine = 1 << 20

// readDay reads day's history a line at a time into each policy domain's
// distinct rows (domainRows), the domains in the order first seen, so
// that a day of a million lines is never held whole. A line that does
// not read (the last of a crash, a torn write) is skipped.
func (r *reporter) readDay(day string) (map[string]*domainRows, []string, error) {
	f, err := os.Open(r.historyPath(day))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	byDomain := map[string]*domainRows{}
	var order []string
	bad := 0
	br := bufio.NewReaderSize(f, 64<<10)
	var line []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long && len(line)+len(chunk) <= historyMaxLine {
			line = append(line, chunk...)
		} else {
			long, line = true, line[:0]
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		if l := bytes.TrimSpace(line); long || len(l) > 0 {
			var row historyRow
			if long || json.Unmarshal(l, &row) != nil || row.Policy.Domain == "" {
				bad++
			} else {
				d := row.Policy.Domain
				if byDomain[d] == nil {
					byDomain[d] = &domainRows{}
					order = append(order, d)
				}
				byDomain[d].add(&row)
			}
		}
		line, long = line[:0], false
		if err != nil {
			break
		}
	}
	if bad > 0 {
		r.log.Warn("dmarc reports: history lines that do not read, skipped", "day", day, "lines", bad)
	}
	return byDomain, order, nil
}

// sendDomain sends one domain's report, recording in st how it went;
// save writes the day's progress, st with it.
func (r *reporter) sendDomain(ctx context.Context, rep *dayReport, st *domainProgress, now time.Time, save func()) {
	log := r.log.With("domain", rep.domain, "day", rep.begin.Format(dayLayout), "report_id", rep.feedback.Metadata.ReportID)
	dests, ignored := parseRUA(rep.rua)
	if len(ignored) > 0 {
		log.Warn("dmarc reports: rua entries ignored", "ignored", ignored)
	}
	var ok []ruaDest
	var dnsErr error
	for _, d := range dests {
		good, err := verifyDest(ctx, r.res, rep.domain, d)
		switch {
		case err != nil && dnsresolve.IsTemporary(err):
			dnsErr = err
			ok = append(ok, ruaDest{}) // a place held: retried below
		case err != nil:
			log.Warn("dmarc reports: external destination not verified, dropped", "to", d.addr, "err", err)
		case !good:
			log.Warn("dmarc reports: external destination does not take reports about the domain (no v=DMARC1 record at "+rep.domain+"._report._dmarc."+addrDomain(d.addr)+"), dropped", "to", d.addr)
		default:
			ok = append(ok, d)
		}
	}
	if dnsErr != nil {
		if r.retry(st, now) {
			log.Warn("dmarc reports: verifying a destination failed; will retry", "err", dnsErr, "retry_at", st.RetryAt)
			return
		}
		log.Warn("dmarc reports: verifying a destination failed again; sent to the others", "err", dnsErr)
	}
	ok = slices.DeleteFunc(ok, func(d ruaDest) bool { return d.addr == "" })
	body, err := rep.xmlBytes()
	if err != nil {
		log.Error("dmarc reports: encoding the report", "err", err)
		st.Done = true
		return
	}
	gz := gzipped(body)
	msg := reportMessage(rep, r.cfg, addrs(ok), gz, now)
	fits, over := bySize(ok, len(msg))
	for _, d := range over {
		log.Warn("dmarc reports: report over the destination's size limit, not sent there", "to", d.addr, "limit", d.limit, "size", len(msg))
	}
	if len(fits) == 0 {
		log.Info("dmarc reports: no destination to send the report to")
		st.Done = true
		return
	}
	for _, group := range byCharset(fits) {
		group = slices.DeleteFunc(group, func(d ruaDest) bool { return slices.Contains(st.Sent, d.addr) })
		if len(group) == 0 {
			continue
		}
		msg := reportMessage(rep, r.cfg, addrs(group), gz, now)
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		// The null sender: a report that cannot be delivered is not
		// reported on in turn, as Sluice's own reports go (RFC 3834 §3.3).
		qid, err := r.mailer.Send(sctx, sdk.OutgoingMessage{From: "", To: addrs(group), Message: msg})
		cancel()
		if err != nil {
			if !errors.Is(err, sdk.ErrNoMailer) && r.retry(st, now) {
				log.Warn("dmarc reports: report not queued; will retry", "to", addrs(group), "err", err, "retry_at", st.RetryAt)
				return
			}
			log.Error("dmarc reports: report not queued, dropped", "to", addrs(group), "err", err)
			continue
		}
		st.Sent = append(st.Sent, addrs(group)...)
		// Saved before the next message is queued: a crash while it
		// is sent sends this one again no more.
		save()
		log.Info("dmarc reports: report queued", "queue_id", qid, "to", addrs(group), "records", len(rep.feedback.Records))
	}
	st.Done = true
}

// byCharset splits ds into the destinations whose address is ASCII and
// those whose local part is UTF-8, each group a message of its own. The
// core queues a message to a UTF-8 address as needing SMTPUTF8 (RFC 6531
// §3.2: such a local part has no ASCII form), and the To field then
// carries the address as UTF-8 (RFC 6532 §3.2), which may go to no hop
// without SMTPUTF8 either: in one message, the ASCII destinations whose
// MX lacks SMTPUTF8 would be refused the report too (553 5.6.7).
func byCharset(ds []ruaDest) [][]ruaDest {
	var plain, utf []ruaDest
	for _, d := range ds {
		if strings.ContainsFunc(d.addr, func(r rune) bool { return r >= utf8.RuneSelf }) {
			utf = append(utf, d)
		} else {
			plain = append(plain, d)
		}
	}
	return [][]ruaDest{plain, utf}
}

// retry counts a failed attempt and schedules the next, if one is left.
func (r *reporter) retry(st *domainProgress, now time.Time) bool {
	st.Failures++
	if st.Failures >= reportTries {
		return false
	}
	st.RetryAt = now.Add(reportRetry[min(st.Failures, len(reportRetry))-1])
	return true
}

func addrs(ds []ruaDest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.addr)
	}
	return out
}

func (r *reporter) progressPath(day string) string {
	return filepath.Join(r.dir, "progress-"+day+".json")
}

// loadProgress reads day's progress; one that does not read is taken as
// none (a report may then go twice, with the same Report-ID).
func (r *reporter) loadProgress(day string) map[string]*domainProgress {
	prog := map[string]*domainProgress{}
	b, err := os.ReadFile(r.progressPath(day))
	if errors.Is(err, fs.ErrNotExist) {
		return prog
	}
	if err == nil {
		err = json.Unmarshal(b, &prog)
	}
	if err != nil {
		r.log.Error("dmarc reports: progress file does not read; starting the day afresh", "day", day, "err", err)
		return map[string]*domainProgress{}
	}
	for d, st := range prog {
		if st == nil {
			delete(prog, d)
		}
	}
	return prog
}

// saveProgress replaces day's progress file whole (internal/atomicfile),
// so that a crash leaves the last one.
func (r *reporter) saveProgress(day string, prog map[string]*domainProgress) {
	b, err := json.Marshal(prog)
	if err == nil {
		err = atomicfile.Write(r.progressPath(day), b, 0o600)
	}
	if err != nil {
		r.log.Error("dmarc reports: saving the progress", "day", day, "err", err)
	}
}

// removeDay removes day's history and progress.
func (r *reporter) removeDay(day string) {
	for _, p := range []string{r.historyPath(day), r.progressPath(day)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.log.Error("dmarc reports: removing a finished day", "file", p, "err", err)
		}
	}
}

// lockSend takes the state directory's send lock (an flock of the
// directory itself, which leaves no file behind) without waiting; false when another process of the stage
// holds it. A lock that cannot be taken for another reason is logged and
// not waited for: reports going twice, with the same Report-ID, is the
// lesser harm.
func (r *reporter) lockSend() (unlock func(), ok bool) {
	f, err := os.Open(r.dir)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, false
		}
	}
	if err != nil {
		r.log.Error("dmarc reports: taking the send lock", "err", err)
	}
	return func() {
		if f != nil {
			_ = f.Close() // releases the flock
		}
	}, true
}
