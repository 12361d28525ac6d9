package delivery

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/core/reply"
)

// attempt makes one delivery attempt of message id: every pending
// recipient, one transaction per destination (several past its recipient
// limit, rcptlimit.go), then records the outcomes. Recipients already
// delivered or failed are never sent again.
func (a *Agent) attempt(ctx context.Context, id string) {
	m, err := a.q.Get(id)
	if err != nil {
		if !errors.Is(err, queue.ErrNotFound) {
			a.log.Error("delivery: reading message", "id", id, "err", err)
			return
		}
		a.rt.rate.forget(id)
		return
	}
	if m.State != envelope.StateActive || m.Done() {
		a.rt.rate.forget(id)
		return
	}
	body, err := a.q.Body(id)
	if err != nil {
		if _, gone := a.q.Get(id); errors.Is(gone, queue.ErrNotFound) {
			a.rt.rate.forget(id)
			return // deleted since it was read: an administrator's, no fault
		}
		a.log.Error("delivery: reading body", "id", id, "err", err)
		a.postpone(id, err)
		return
	}
	// The recipients in a domain whose delivery is suspended are not
	// tried: grouped with none, they are recorded as in backoff.
	pending, suspended := a.splitSuspended(m.Pending())
	dests, results := a.group(pending)
	maps.Copy(results, suspended)
	var stuck []*envelope.Recipient // their stored route does not parse
	for _, r := range pending {
		if o, ok := results[r.Addr]; ok && o.status == envelope.RcptPending {
			stuck = append(stuck, r)
		}
	}
	unparsed := make(map[string]string, len(stuck)) // their deferral's reply
	for _, r := range stuck {
		unparsed[r.Addr] = results[r.Addr].reply
	}
	for _, addr := range a.softBounce(results) {
		// A recipient without a domain is in no destination's
		// "delivery attempt" line: without this one it would be
		// deferred at each attempt with nothing logged.
		a.log.Info("delivery: deferred by soft_bounce", "id", id, "rcpt", addr, "reply", results[addr].reply, "soft_bounce", true)
	}
	asked := false                // the deliver hook's stages were asked
	var routes map[string]reroute // the routes its stages set, by address
	if a.deliverHook != nil {
		var quarantine bool
		if dests, routes, quarantine, asked = a.askDeliver(ctx, m, dests, stuck, results); quarantine {
			a.quarantine(id)
			a.rt.rate.forget(id)
			return
		}
	}
	for _, r := range stuck {
		if o, ok := results[r.Addr]; ok && o.status == envelope.RcptPending && o.reply == unparsed[r.Addr] {
			// A route a stage set that does not parse, and that no
			// stage replaced at deliver: the recipient is in no
			// destination's "delivery attempt" line, and without this
			// one it would wait, attempt after attempt, unexplained.
			a.log.Warn("delivery: recipient's route does not parse, will retry", "id", id, "rcpt", r.Addr, "route", r.Route, "reply", o.reply)
		}
	}
	a.softBounce(results) // the hook's refusals, which it logged
	early, isEarly := a.rt.rate.takeEarly(id)
	// Back for a rate delay's promise before its other recipients' retry,
	// and not moved by an administrator (queue retry, flush) meanwhile.
	isEarly = isEarly && m.NextAttempt.Equal(early.next) && a.clock().Before(early.retry)
	var promised []string // the destinations that promised it a start now
	for i, d := range dests {
		if isEarly && !early.holds(d) {
			maps.Copy(results, forAll(d, outcome{status: envelope.RcptPending, skipped: true, notDue: true, rateUntil: early.retry}))
			continue
		}
		if (i > 0 || asked) && !a.stillActive(id) {
			// Deleted or held while an earlier destination, or the
			// deliver hook's stages, took it: what the administrator did
			// holds for every destination not tried yet. The recipients
			// left stay as they were.
			a.log.Info("delivery: message held or deleted during the attempt, remaining destinations not tried", "id", id)
			break
		}
		tr := &attemptTrace{}
		if a.metrics != nil {
			a.metrics.DeliveryStarted()
		}
		start := time.Now()
		dctx := withSaveDelivered(withAttemptTrace(ctx, tr), func(res map[string]outcome) {
			res = stampRoutes(res, routes)
			a.recordDelivered(ctx, id, res, res, body)
		})
		if m.Report == envelope.ReportTLSRPT {
			dctx = withTLSRPTExempt(dctx)
		}
		if m.RequireTLS {
			dctx = withRequireTLS(dctx)
		} else if m.TLSRequiredNo && a.cfg.TLSRequiredHeader {
			dctx = withTLSRequiredNo(dctx)
		}
		res, via := a.deliverTo(dctx, m, body, d)
		took := time.Since(start)
		res = stampRoutes(res, routes)
		if rateHeld(res) {
			// Waiting for the destination's rate delay: not an attempt,
			// and deliverTo's debug line is its only trace.
			maps.Copy(results, res)
			promised = append(promised, d.key)
			if a.metrics != nil {
				a.metrics.DeliveryEnded()
			}
			continue
		}
		a.softBounce(res)
		remote := remoteHost(via)
		for addr, o := range res {
			if o.remote == "" && !o.ownReply && !o.ours {
				o.remote = remote
			}
			if o.via == "" && !o.ownReply {
				o.via = via
			}
			results[addr] = o
		}
		a.logAttempt(m, d, via, res, tr, took)
		if i < len(dests)-1 {
			a.recordDelivered(ctx, id, res, results, body)
		}
	}
	if m := a.record(ctx, id, results, body); m == nil || m.State != envelope.StateActive || m.Done() {
		a.rt.rate.forget(id) // gone, held, quarantined or expired: it waits for nothing
	} else {
		a.rt.rate.settle(id, promised)
		a.dueIfResumed(id, suspended)
	}
}

// dueIfResumed makes message id due now when a domain whose recipients
// this attempt left untried (held, by address) was resumed during it:
// the resume made the domain's mail due (Suspensions.Ended) before the
// attempt's record set its next attempt a retry delay away. A resume
// after this check makes it due itself, its flush coming after the
// record.
func (a *Agent) dueIfResumed(id string, held map[string]outcome) {
	resumed := false
	for addr := range held {
		if !a.suspended.Suspended(envelope.Site(addr)) {
			resumed = true
			break
		}
	}
	if !resumed {
		return
	}
	_, err := a.q.Modify(id, func(m *envelope.Message) error {
		if now := a.clock(); m.State == envelope.StateActive && m.NextAttempt.After(now) {
			m.NextAttempt = now
		}
		return nil
	})
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		a.log.Error("delivery: making due a message whose domain was resumed", "id", id, "err", err)
	}
}

// rateHeld reports whether res is a destination's waiting for its rate
// delay (deliverTo).
func rateHeld(res map[string]outcome) bool {
	for _, o := range res {
		if o.rateUntil.IsZero() {
			return false
		}
	}
	return len(res) > 0
}

// stillActive reports whether message id is still queued and active, as
// an attempt checks before each destination or transaction after the
// first and after waiting for a connection slot: an administrator may
// have deleted or held it while an earlier one, or the sessions busy with
// other messages, took minutes.
func (a *Agent) stillActive(id string) bool {
	m, err := a.q.Get(id)
	if err != nil {
		if !errors.Is(err, queue.ErrNotFound) {
			a.log.Error("delivery: reading message", "id", id, "err", err)
		}
		return false
	}
	return m.State == envelope.StateActive
}

// recordDelivered records at once, synced, the recipients one destination
// of a multi-destination attempt accepted (or one transaction of a
// destination's several, saveDelivered), before the attempt goes on to
// the next destination: that one may take minutes (timeouts, several MX
// hosts), and a crash meanwhile must not send the accepted recipients
// again. Postfix's queue manager likewise marks each recipient done as
// soon as its delivery agent reports. Failures and deferrals wait for the
// attempt's record, so that one report covers them; the attempt's record
// counts these recipients as tried (see apply).
func (a *Agent) recordDelivered(ctx context.Context, id string, res, results map[string]outcome, body []byte) {
	done := map[string]outcome{}
	for addr := range res {
		if o := results[addr]; o.status == envelope.RcptDelivered && !o.skipped {
			done[addr] = o
		}
	}
	if len(done) == 0 {
		return
	}
	now := a.clock()
	var lines []rcptLine
	m, err := a.change(ctx, id, body, now, func(m *envelope.Message) []bounce.Recipient {
		var entries []bounce.Recipient
		lines = nil
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			o, ok := done[r.Addr]
			if !ok || r.Done() {
				continue
			}
			noteTried(r, o, now)
			lines = append(lines, lineOf(m, r, o, now))
			if e, ok := successEntry(o); ok {
				entries = wanted(entries, r, e)
			}
		}
		return entries
	}, func(reported map[string]string) { a.logRcpts(id, lines, reported) })
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		a.log.Error("delivery: recording delivered recipients", "id", id, "err", err)
	}
	if err == nil {
		a.notifyOutcome(m, lines, body, false, true)
	}
}

// noteTried records on r the outcome o of its attempt at now.
func noteTried(r *envelope.Recipient, o outcome, now time.Time) {
	r.Attempts++
	r.Status, r.LastReply = o.status, o.reply
	r.RemoteMTA, r.LastAttempt = o.remote, now
	noteRoute(r, o)
}

// noteRoute stores on r the route a stage set for it at the deliver hook,
// which its attempt went by: in the commit that records the attempt's
// outcome, so that the queue never holds an outcome of one route with
// the recipient still on another.
func noteRoute(r *envelope.Recipient, o outcome) {
	if o.rerouted {
		r.Route, r.RouteBy = o.route, o.routeBy
	}
}

// reroute is a route a stage set at the deliver hook, and that stage.
type reroute struct{ route, by string }

// stampRoutes is res with, on each outcome, the route the deliver hook set
// for its recipient, if it set one.
func stampRoutes(res map[string]outcome, routes map[string]reroute) map[string]outcome {
	if len(routes) == 0 {
		return res
	}
	out := make(map[string]outcome, len(res))
	for addr, o := range res {
		if rt, ok := routes[addr]; ok {
			o.route, o.routeBy, o.rerouted = rt.route, rt.by, true
		}
		out[addr] = o
	}
	return out
}

// saveDeliveredKey carries, in an attempt's context, the function that
// saves recipients delivered so far (recordDelivered): a destination that
// takes the message in several transactions (past its recipient limit, or
// a server taking so many recipients per transaction) saves each one's
// before the next, and its own hosts' before a fallback relay's.
type saveDeliveredKey struct{}

func withSaveDelivered(ctx context.Context, save func(map[string]outcome)) context.Context {
	return context.WithValue(ctx, saveDeliveredKey{}, save)
}

// saveDelivered saves the recipients of res that were delivered, by the
// server via ("host[addr]:port"), when ctx is an attempt's
// (recordDelivered picks them).
func saveDelivered(ctx context.Context, res map[string]outcome, via string) {
	save, _ := ctx.Value(saveDeliveredKey{}).(func(map[string]outcome))
	if save == nil {
		return
	}
	withRemote := make(map[string]outcome, len(res))
	for addr, o := range res {
		if o.remote == "" && !o.ours {
			o.remote = remoteHost(via)
		}
		if o.via == "" {
			o.via = via
		}
		withRemote[addr] = o
	}
	save(withRemote)
}

// logAttempt writes the one log line of a destination's attempt, and the
// attempt's event in the message's trace.
func (a *Agent) logAttempt(m *envelope.Message, d *destination, via string, res map[string]outcome, tr *attemptTrace, took time.Duration) {
	rcpts := make([]string, len(d.rcpts))
	counts := map[envelope.RcptStatus]int{}
	var last string
	skipped := len(d.rcpts) > 0
	for i, r := range d.rcpts {
		rcpts[i] = r.Addr
		o := res[r.Addr]
		skipped = skipped && o.skipped
		counts[o.status]++
		if last == "" || o.status != envelope.RcptDelivered {
			last = o.reply
		}
	}
	result := "mixed"
	switch len(d.rcpts) {
	case counts[envelope.RcptDelivered]:
		result = "delivered"
	case counts[envelope.RcptPending]:
		result = "deferred"
	case counts[envelope.RcptFailed]:
		result = "failed"
	}
	tlsState, sts := tr.summary(via)
	attrs := []any{"id", m.ID, "dest", d.name, "via", via,
		"rcpts", rcpts, "result", result, "reply", last, "tls", tlsState, "mta_sts", sts}
	kept := softBouncedRcpts(rcpts, res)
	if len(kept) > 0 {
		// The deferral would have been a failure: the operator reading
		// it should know.
		attrs = append(attrs, "soft_bounce", kept)
	}
	if d.rateWaited {
		attrs = append(attrs, "rate_waited", true)
	}
	if fb := fellBackNote(d); fb != "" {
		attrs = append(attrs, "fallback_relay", fb)
	}
	a.log.Info("delivery attempt", attrs...)
	a.traceAttempt(m, d, via, rcpts, result, last, tlsState, sts, kept)
	if a.metrics != nil {
		domain := d.domain
		if domain == "" {
			domain = d.name
		}
		outcome := metrics.Deferred
		switch result {
		case "delivered":
			outcome = metrics.Delivered
		case "failed":
			outcome = metrics.Failed
		}
		if skipped {
			// The destination was in backoff: nothing was tried, so there
			// is no attempt or recipient outcome to count.
			a.metrics.DeliveryEnded()
			return
		}
		a.metrics.DeliveryAttempt(domain, outcome, took)
		a.metrics.DeliveryRecipients(domain, metrics.Delivered, counts[envelope.RcptDelivered])
		a.metrics.DeliveryRecipients(domain, metrics.Deferred, counts[envelope.RcptPending])
		a.metrics.DeliveryRecipients(domain, metrics.Failed, counts[envelope.RcptFailed])
	}
}

// quarantine sets message id aside for an administrator (the deliver
// hook asked for it); no recipient is changed. A message an administrator
// held while the hook's stages took it stays held: what the administrator
// did holds, as for the destinations of an attempt (stillActive), and
// releasing it asks the hook again.
func (a *Agent) quarantine(id string) {
	if _, err := a.q.Modify(id, func(m *envelope.Message) error {
		if m.State != envelope.StateActive {
			return errNotActive
		}
		m.State = envelope.StateQuarantined
		return nil
	}); errors.Is(err, errNotActive) {
		a.log.Info("delivery: deliver hook's quarantine not applied: held by an administrator meanwhile", "id", id)
	} else if err != nil && !errors.Is(err, queue.ErrNotFound) {
		a.log.Error("delivery: quarantining", "id", id, "err", err)
	}
}

// errNotActive aborts the deliver hook's quarantine of a message no
// longer active.
var errNotActive = errors.New("delivery: message no longer active")

// record stores the attempt's outcomes, with the one report (RFC 3464)
// they call for in the same commit; the queue removes the message once
// every recipient is done. It returns the message as stored, nil when it
// could not be (removed meanwhile, a failed write).
func (a *Agent) record(ctx context.Context, id string, results map[string]outcome, body []byte) *envelope.Message {
	now := a.clock()
	var lines []rcptLine
	m, err := a.change(ctx, id, body, now, func(m *envelope.Message) []bounce.Recipient {
		var entries []bounce.Recipient
		entries, lines = a.apply(m, results, now)
		return entries
	}, func(reported map[string]string) { a.logRcpts(id, lines, reported) })
	if errors.Is(err, queue.ErrNotFound) {
		a.log.Info("delivery: message removed during the attempt", "id", id)
		return nil
	}
	if err != nil {
		a.log.Error("delivery: recording attempt", "id", id, "err", err)
		return nil
	}
	a.notifyOutcome(m, lines, body, false, false)
	return m
}

// apply writes outcomes into m: each attempted recipient's status, attempt
// count and last reply; then either the next attempt (and the delay
// warning, once due) or, past max_age, expiry of whatever is still
// pending. It returns the report entries the recipients' NOTIFY asks for
// (RFC 3461 §4.1) and the recipient lines to log: one for each outcome
// recorded, an expired recipient's saying expired rather than deferred.
func (a *Agent) apply(m *envelope.Message, results map[string]outcome, now time.Time) (entries []bounce.Recipient, lines []rcptLine) {
	tried := false
	var lastTemp string
	var rateAt time.Time     // the earliest start a rate delay promised
	var keep time.Time       // the retry of the recipients not due (notDue)
	var held map[string]bool // made only when a rate delay holds one
	line := map[string]int{} // index in lines, by address
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		o, ok := results[r.Addr]
		if !ok {
			continue
		}
		if r.Done() {
			// Delivered and recorded during this attempt, before its
			// next destination (recordDelivered): it was tried.
			tried = tried || (r.Status == envelope.RcptDelivered && o.status == envelope.RcptDelivered && !o.skipped)
			continue
		}
		if !o.rateUntil.IsZero() {
			// Waiting for its destination's rate delay: no attempt,
			// no line; the message comes back at the promised start.
			noteRoute(r, o)
			if o.notDue {
				keep = o.rateUntil
				continue
			}
			if held == nil {
				held = map[string]bool{}
			}
			held[r.Addr] = true
			if rateAt.IsZero() || o.rateUntil.Before(rateAt) {
				rateAt = o.rateUntil
			}
			continue
		}
		if o.skipped {
			// Not tried (its destination is in backoff): no attempt to
			// count, and the last real reply stays the diagnostic. Its
			// new route is the one the next attempt will wait for.
			noteRoute(r, o)
			if r.LastReply == "" {
				r.LastReply = o.reply
			}
			lastTemp = r.LastReply
			// Deferred without a try, as Postfix logs "delivery
			// temporarily suspended" for each recipient.
			line[r.Addr] = len(lines)
			lines = append(lines, lineOf(m, r, o, now))
			continue
		}
		tried = true
		noteTried(r, o, now)
		line[r.Addr] = len(lines)
		lines = append(lines, lineOf(m, r, o, now))
		switch o.status {
		case envelope.RcptFailed:
			entries = wanted(entries, r, bounce.Recipient{Action: bounce.Failed})
		case envelope.RcptDelivered:
			if e, ok := successEntry(o); ok {
				entries = wanted(entries, r, e)
			}
		case envelope.RcptPending:
			lastTemp = o.reply
		}
	}
	if tried {
		m.Attempts++
	}
	if m.Done() {
		return entries, lines
	}
	// A message held during the attempt does not expire: held mail
	// expires only once released, as in Postfix (postsuper(1) -h).
	expired := m.State == envelope.StateActive && !m.Received.IsZero() && now.Sub(m.Received) > a.lifetime(m)
	if expired && a.softBounceOn {
		// Postfix's bounce_flush returns nothing under soft_bounce: the
		// mail stays queued past its lifetime and is tried again.
		a.log.Warn("delivery: past its queue lifetime, kept queued by soft_bounce", "id", m.ID, "received", m.Received)
		expired = false
	}
	if expired {
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			if !r.Done() {
				// The report gives the last reply as the diagnostic and
				// X.4.7 (delivery time expired, RFC 3463) as the status.
				e := bounce.Recipient{Action: bounce.Failed, Status: statusCode(reply.Expired), Diagnostic: r.LastReply}
				r.Status = envelope.RcptFailed
				r.LastReply = reply.Expired.With(r.LastReply).Error()
				entries = wanted(entries, r, e)
				lines = expiredLine(lines, line, m, r, results[r.Addr], now)
			}
		}
		return entries, lines
	}
	m.NextAttempt = now.Add(a.retryDelay(m.Attempts))
	if !keep.IsZero() && keep.Before(m.NextAttempt) {
		m.NextAttempt = keep // not tried now: their retry stands
	}
	if !rateAt.IsZero() && rateAt.Before(m.NextAttempt) {
		retry := m.NextAttempt
		m.NextAttempt = rateAt
		for _, r := range m.Pending() {
			if !held[r.Addr] {
				a.rt.rate.setEarly(m.ID, earlyRetry{retry: retry, next: rateAt, held: held}, now)
				break
			}
		}
	}
	if lastTemp != "" || rateAt.IsZero() && keep.IsZero() {
		m.LastError = lastTemp
	}
	if a.delayWarningDue(m, now) {
		m.DelayNotified = true
		until := m.Received.Add(a.cfg.MaxAge.Duration)
		for _, r := range m.Pending() {
			entries = wanted(entries, r, bounce.Recipient{Action: bounce.Delayed, WillRetryUntil: until})
		}
	}
	return entries, lines
}

// expiredLine sets, in lines, the line of r, which expired at now, to say
// so: its attempt's line when it was tried (one line for the outcome, not
// deferred and then expired), or a line of its own when it was not tried
// in this attempt. line indexes lines by address.
func expiredLine(lines []rcptLine, line map[string]int, m *envelope.Message, r *envelope.Recipient, o outcome, now time.Time) []rcptLine {
	l := lineOf(m, r, o, now)
	l.status, l.softBounce = statusExpired, false
	l.class = expiredClass(r.LastReply)
	if i, ok := line[r.Addr]; ok {
		lines[i] = l
		return lines
	}
	return append(lines, l)
}

// lifetime is how long m may wait in the queue: bounce_max_age for
// mail from the null sender, max_age for any other.
func (a *Agent) lifetime(m *envelope.Message) time.Duration {
	if m.From == "" {
		return a.cfg.BounceMaxAge.Duration
	}
	return a.cfg.MaxAge.Duration
}

// retryDelay is the wait after the given number of attempts: the retry
// list's entry for it, the last one repeating, spread by ± jitter so that
// messages queued together do not retry together.
func (a *Agent) retryDelay(attempts int) time.Duration {
	r := a.cfg.Retry
	d := r[max(min(attempts-1, len(r)-1), 0)].Duration
	if j := a.cfg.Jitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*a.rand()-1)))
	}
	return d
}

// postpone reschedules a message that could not even be read.
func (a *Agent) postpone(id string, cause error) {
	_, err := a.q.Modify(id, func(m *envelope.Message) error {
		m.LastError = cause.Error()
		m.NextAttempt = a.clock().Add(a.retryDelay(1))
		return nil
	})
	if err != nil {
		a.log.Error("delivery: rescheduling", "id", id, "err", err, "cause", cause)
	}
}
