package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/bounceclass"
)

// BounceOptions configure the delivery status notifications (RFC 3461,
// RFC 3464) the agent sends: on permanent failure and expiry, a delay
// warning, and success reports asked for with NOTIFY=SUCCESS.
type BounceOptions struct {
	// DelayWarning is how long a message waits before its sender gets one
	// "delayed" report. Zero: 4h. Negative: never.
	DelayWarning time.Duration
	// DoubleBounceTo receives, as a report of its own, a report (or any
	// null-sender message) that failed. Empty: it is logged and dropped.
	DoubleBounceTo string
	// Filter runs every report through the pipeline's bounce hook before
	// it is queued (see pipeline.Bounce). It may rewrite the body, drop
	// the report or quarantine it; the session's trace is stored with the
	// report, or under its id when it is dropped. An error, or a result
	// that says the stages did not decide, is logged and the report is
	// queued as generated: a lost bounce is worse than an unfiltered one.
	Filter func(ctx context.Context, report *envelope.Message, body []byte) (pipeline.BounceResult, error)
	// MaxReturn is the largest original message returned whole; a larger
	// one is returned as its header (cut to MaxReturn when even that is
	// longer), as a report larger than the sender's server accepts would
	// itself bounce. Zero: 50,000 bytes, as config's bounce_size_limit
	// and Postfix's. Negative: no limit.
	MaxReturn int
	// Templates are [delivery] bounce_template's notices (a bounce(5)
	// file); nil: the built-in ones.
	Templates *bounce.Templates
}

const (
	defaultDelayWarning = 4 * time.Hour
	defaultMaxReturn    = 50000
)

// errChanged aborts a commit whose message changed since it was read.
var errChanged = errors.New("delivery: message changed meanwhile")

// errReports aborts change's one-step commit: the change queues reports.
var errReports = errors.New("delivery: change queues reports")

// optimisticTries is how often change prepares a report outside the
// queue's lock before it gives up and does it under the lock.
const optimisticTries = 3

// change applies fn to message id and queues the reports for the entries
// fn returns in the same synced commit (queue.ModifyEnqueue): a crash
// can neither lose a report nor send it twice. A report goes through the
// bounce hook, a plugin, so it is prepared on a copy outside the queue's
// lock and committed only when the message is still as read; otherwise
// everything is redone, the last time under the lock. fn may therefore
// run more than once, always on a fresh copy. Once the change is
// committed, committed (when not nil) gets the id of the report queued
// for each recipient it covers, before the report's own line is logged.
func (a *Agent) change(ctx context.Context, id string, body []byte, now time.Time, fn func(*envelope.Message) []bounce.Recipient, committed func(reported map[string]string)) (*envelope.Message, error) {
	// Most changes report nothing (a delivery without NOTIFY=SUCCESS): no
	// plugin to call, so they are made in one step under the lock, without
	// the read, copy and comparison of the optimistic path.
	m, err := a.q.ModifyEnqueue(id, func(m *envelope.Message) ([]queue.Queued, error) {
		if len(fn(m)) > 0 {
			return nil, errReports
		}
		return nil, nil
	})
	if !errors.Is(err, errReports) {
		if err == nil && committed != nil {
			committed(nil)
		}
		return m, err
	}
	var out []queue.Queued
	var covers []string
	var dropped []droppedReport
	for try := 0; ; try++ {
		var m *envelope.Message
		var err error
		if try == optimisticTries {
			m, err = a.q.ModifyEnqueue(id, func(m *envelope.Message) ([]queue.Queued, error) {
				out, covers, dropped = a.reports(ctx, m, fn(m), body, now)
				return out, nil
			})
		} else {
			var read *envelope.Message
			if read, err = a.q.Get(id); err != nil {
				return nil, err
			}
			next := read.Clone()
			out, covers, dropped = a.reports(ctx, next, fn(next), body, now)
			m, err = a.q.ModifyEnqueue(id, func(m *envelope.Message) ([]queue.Queued, error) {
				if !sameMessage(m, read) {
					return nil, errChanged
				}
				*m = *next
				return out, nil
			})
			if errors.Is(err, errChanged) {
				continue
			}
		}
		if err == nil {
			if committed != nil {
				committed(reportedIn(out, covers))
			}
			for _, q := range out {
				a.log.Info("delivery: report queued", "id", id, "report", q.Msg.ID, "kind", q.Msg.Report, "to", q.Msg.Rcpts[0].Addr,
					"state", q.Msg.State)
				a.metrics.ReportQueued(string(q.Msg.Report))
			}
			for _, d := range dropped {
				a.log.Info("delivery: report dropped by the bounce hook", "id", id, "report", d.id, "to", d.to)
				a.putTrace(d.id, d.trace)
			}
		}
		return m, err
	}
}

// reportedIn maps each recipient of covers to the id of the report out
// queued for them (reports queues at most one).
func reportedIn(out []queue.Queued, covers []string) map[string]string {
	if len(out) == 0 {
		return nil
	}
	reported := make(map[string]string, len(covers))
	for _, addr := range covers {
		reported[addr] = out[0].Msg.ID
	}
	return reported
}

func sameMessage(a, b *envelope.Message) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// droppedReport is a report the bounce hook dropped: its id and the
// trace stored under it once the change that caused it is committed.
type droppedReport struct {
	id, to string
	trace  []byte
}

// TracePutter is a Queue that stores the trace of a message it does not
// hold: a report the bounce hook dropped keeps what the stages did under
// its id. *queue.Store implements it.
type TracePutter interface {
	PutTrace(id string, trace []byte) error
}

// putTrace stores the trace of a report that was not queued.
func (a *Agent) putTrace(id string, trace []byte) {
	tp, ok := a.q.(TracePutter)
	if !ok || trace == nil {
		return
	}
	if err := tp.PutTrace(id, trace); err != nil {
		a.log.Warn("delivery: tracing", "id", id, "err", err)
	}
}

// reports builds the report on m for entries, already limited to what
// each recipient's NOTIFY asked for, and runs it through the bounce
// hook. A message with the null sender is never reported on to its
// sender (RFC 3461 §6.2, RFC 5321 §4.5.5); its failures go to
// DoubleBounceTo when set, unless it is itself such a double bounce.
// The report comes back to be queued, with the recipients it covers, or
// among dropped when a stage of the bounce hook suppressed it.
func (a *Agent) reports(ctx context.Context, m *envelope.Message, entries []bounce.Recipient, body []byte, now time.Time) (_ []queue.Queued, covers []string, dropped []droppedReport) {
	to, kind := m.From, envelope.ReportDSN
	if m.From == "" {
		var failed []bounce.Recipient
		for _, e := range entries {
			if e.Action == bounce.Failed {
				failed = append(failed, e)
			}
		}
		if len(failed) == 0 {
			return nil, nil, nil
		}
		if a.dsn.DoubleBounceTo == "" || m.Report == envelope.ReportDoubleBounce {
			a.log.Warn("delivery: undeliverable message from the null sender dropped, not reported",
				"id", m.ID, "report", m.Report, "rcpts", entryAddrs(failed))
			return nil, nil, nil
		}
		to, kind, entries = a.dsn.DoubleBounceTo, envelope.ReportDoubleBounce, failed
	}
	if len(entries) == 0 {
		return nil, nil, nil
	}
	id := a.q.NewID()
	raw, err := bounce.Build(bounce.Options{
		Hostname:  a.host,
		ID:        id, // its Received field, there before the bounce hook runs
		To:        to,
		EnvID:     m.DSNEnvID,
		Arrival:   m.Received,
		Date:      now,
		Return:    m.DSNRet,
		MaxReturn: a.maxReturn(),
		Original:  body,
		Rcpts:     entries,
		Redact:    m.RequireTLS,
		// A template's $delay_warning_time and $maximal_queue_lifetime
		// (0 without delay warnings, as Postfix's delay_warning_time).
		Templates:    a.dsn.Templates,
		DelayWarning: max(a.dsn.delayWarning(), 0),
		MaxAge:       a.cfg.MaxAge.Duration,
		Postmaster:   kind == envelope.ReportDoubleBounce,
	})
	if err != nil {
		a.log.Error("delivery: building a report", "id", m.ID, "err", err)
		return nil, nil, nil
	}
	r := &envelope.Message{
		ID:          id,
		From:        "", // RFC 3461 §6.2: reports go out with the null reverse-path
		Rcpts:       []envelope.Recipient{{Addr: to, Status: envelope.RcptPending}},
		Received:    now,
		SMTPUTF8:    !ascii(to),
		Report:      kind,
		State:       envelope.StateActive,
		NextAttempt: now,
		// The bounce hook sees the notes of the message reported on.
		SessionNotes: m.SessionNotes,
		TxnNotes:     m.TxnNotes,
	}
	var trace []byte
	if f := a.dsn.Filter; f != nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.CommandTimeout.Duration)
		res, err := f(fctx, r, raw)
		cancel()
		trace = res.Trace
		switch {
		case err != nil:
			a.log.Warn("delivery: bounce hook failed, report queued unchanged", "id", m.ID, "report", r.ID, "err", err)
		case res.Drop:
			return nil, nil, []droppedReport{{id: r.ID, to: to, trace: trace}}
		default:
			if res.Unchanged != "" {
				a.log.Warn("delivery: bounce hook failed, report queued as generated", "id", m.ID, "report", r.ID, "why", res.Unchanged)
			}
			raw = queueAsHookSays(r, raw, res)
		}
	}
	r.Size, r.Body8Bit = int64(len(raw)), !ascii(string(raw))
	if len(r.Rcpts) == 0 {
		a.log.Warn("delivery: the bounce hook left the report without a recipient", "id", m.ID)
		return nil, nil, nil
	}
	return []queue.Queued{{Msg: r, Body: raw, Trace: trace}}, entryAddrs(entries), nil
}

// queueAsHookSays makes report r, whose body is raw, what the bounce
// hook's result res queues (one that neither failed nor dropped it), and
// returns the body to queue: the stages' body, the quarantined state, the
// recipients a stage replaced the generated ones with (an SRS address by
// the sender it stands for, an alias of one target by the target; with
// no DSN parameters, as any report, pipeline/bounceedit.go), and the
// routes set for them, which are keyed by the new addresses. Every report
// Sluice generates, bounce or mailed TLS-RPT, is queued by it.
func queueAsHookSays(r *envelope.Message, raw []byte, res pipeline.BounceResult) []byte {
	if res.Body != nil {
		raw = res.Body
	}
	if res.Quarantine {
		r.State = envelope.StateQuarantined
	}
	if res.Rcpts != nil {
		r.Rcpts, r.SMTPUTF8 = nil, false
		for _, addr := range res.Rcpts {
			r.Rcpts = append(r.Rcpts, envelope.Recipient{Addr: addr, Status: envelope.RcptPending})
			r.SMTPUTF8 = r.SMTPUTF8 || !ascii(addr)
		}
	}
	for i := range r.Rcpts {
		r.Rcpts[i].Route = res.Routes[r.Rcpts[i].Addr]
		r.Rcpts[i].RouteBy = res.RoutesBy[r.Rcpts[i].Addr]
	}
	return raw
}

// wanted appends to entries the report entry e for recipient r when r's
// NOTIFY asks for e.Action (RFC 3461 §4.1). Fields e leaves empty come
// from r's recorded state.
func wanted(entries []bounce.Recipient, r *envelope.Recipient, e bounce.Recipient) []bounce.Recipient {
	if !bounce.Wants(r.Notify, e.Action) {
		return entries
	}
	e.Addr, e.ORcpt = r.Addr, r.ORcpt
	if e.Diagnostic == "" {
		e.Diagnostic = r.LastReply
	}
	if e.RemoteMTA == "" {
		e.RemoteMTA = r.RemoteMTA
	}
	if e.LastAttempt.IsZero() {
		e.LastAttempt = r.LastAttempt
	}
	return append(entries, e)
}

// successEntry is the report a recipient accepted with o gets when it
// asked for NOTIFY=SUCCESS: none when the hop advertised DSN, as NOTIFY
// went on with the message (RFC 3461 §5.2.1); "relayed" when it did not
// (§5.2.2); "delivered" for final delivery to such a hop.
func successEntry(o outcome) (bounce.Recipient, bool) {
	switch {
	case !o.noDSN:
		return bounce.Recipient{}, false
	case o.final:
		return bounce.Recipient{Action: bounce.Delivered}, true
	}
	return bounce.Recipient{Action: bounce.Relayed}, true
}

func (a *Agent) maxReturn() int {
	switch n := a.dsn.MaxReturn; {
	case n == 0:
		return defaultMaxReturn
	case n < 0:
		return 0 // bounce.Build: no limit
	default:
		return n
	}
}

// delayWarningDue reports whether m, still pending at now, should get its
// delay warning.
func (a *Agent) delayWarningDue(m *envelope.Message, now time.Time) bool {
	d := a.dsn.delayWarning()
	return d > 0 && !m.DelayNotified && !m.Received.IsZero() && now.Sub(m.Received) >= d
}

// delayWarning is how long a message waits before its delay warning;
// negative: never.
func (o BounceOptions) delayWarning() time.Duration {
	if o.DelayWarning == 0 {
		return defaultDelayWarning
	}
	return o.DelayWarning
}

// Bounce fails every pending recipient of message id at once, as an
// administrator asked (POST /api/queue/{id}/bounce): the sender gets the
// report now, in the same commit that removes the message. NOTIFY and
// the null-sender rule apply as to any failure.
//
// While an attempt of the message runs, Bounce waits for it (the attempt
// may deliver some recipients; only those still pending are bounced), and
// is refused with ErrInProgress when it runs on past a.bounceWait.
// Holding the message first and bouncing it once held is the way to
// bounce mail whose attempts run long.
func (a *Agent) Bounce(ctx context.Context, id string) error {
	if !a.busy.wait(ctx, id, a.bounceWait) {
		return ErrInProgress
	}
	defer a.busy.release(id)
	body, err := a.q.Body(id)
	if err != nil {
		return err
	}
	now := a.clock()
	var n int
	var rcpts []string
	var lines []rcptLine
	attempts := 0
	m, err := a.change(ctx, id, body, now, func(m *envelope.Message) []bounce.Recipient {
		var entries []bounce.Recipient
		n, rcpts, attempts, lines = 0, nil, m.Attempts, nil
		for _, r := range m.Pending() {
			n++
			rcpts = append(rcpts, r.Addr)
			r.Status = envelope.RcptFailed
			r.LastReply = adminBounced.With(r.LastReply).Error()
			r.RemoteMTA = "" // the reply is ours now
			entries = wanted(entries, r, bounce.Recipient{Action: bounce.Failed})
			l := lineOf(m, r, outcome{}, now)
			l.class = string(bounceclass.Admin) // whatever the last reply said
			lines = append(lines, l)
		}
		return entries
	}, func(reported map[string]string) { a.logRcpts(id, lines, reported) })
	if err != nil {
		return err
	}
	a.rt.rate.forget(id) // it waits for no start any more
	a.notifyOutcome(m, lines, body, true, false)
	a.log.Info("delivery: bounced by administrator", "id", id, "rcpts", n)
	// The trace tells it too, beside the attempts (sluice trace ID).
	a.traceEvent(id, pipeline.DeliveryEvent{Time: now, Attempt: attempts, Destination: "administrator",
		Recipients: rcpts, Result: "failed", Reply: adminBounced.String()})
	return nil
}

// remoteHost is the host name in deliverTo's "host[addr]".
func remoteHost(via string) string {
	if i := strings.IndexByte(via, '['); i > 0 {
		return via[:i]
	}
	return ""
}

func entryAddrs(entries []bounce.Recipient) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Addr
	}
	return out
}

// statusCode renders r's enhanced code as a Status field value.
func statusCode(r reply.Reply) string {
	return fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
}
