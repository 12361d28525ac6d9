package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// DeliverCall is one recipient of a queued message that delivery is about
// to send: the message's envelope (each recipient with its stored route)
// and the recipient, its Route the route it goes by (after routing),
// RouteBy the stage that set that route ("" for none, or not known),
// Notes the notes stored with the message.
type DeliverCall struct {
	Env     sdk.Envelope
	Rcpt    sdk.Recipient
	RouteBy string
	// Notes are the message's, as queued (Session.Notes).
	Notes Notes
}

// EachConn is a Conn that runs hooks that do not depend on one another in
// one round trip (a plugin: sdk.Client.HookEach), each answered on its own.
type EachConn interface {
	HookEach(ctx context.Context, calls []sdk.HookCall) ([]sdk.Verdict, []error, error)
}

// Deliver runs the deliver hook for calls, one result per call in order.
// Only the stages that declared the hook are asked, in order, with their
// timeout and on_error: continue asks the next, accept skips the rest;
// reject and tempfail fail or defer the recipient with their reply;
// discard drops it unsent and quarantine sets its message aside (the
// outcome's Action says which). A stage's SetRoute for the call's
// recipient changes the route it goes by when that route is the stage's
// own or nobody's (deliveredit.go), and the stages after it see the new
// one; other edits are not applied: at deliver there
// is no message to edit. Each result carries what the stages asked did,
// for the message's trace.
//
// Calls from concurrent callers go through the stages together, as a
// group commit does (deliverqueue.go): each stage gets them in one round
// trip when it can answer them so (EachConn).
func (p *Pipeline) Deliver(ctx context.Context, calls []DeliverCall) []DeliverResult {
	if len(calls) == 0 || !p.Declares(sdk.HookDeliver) {
		return continueAll(len(calls))
	}
	return p.deliverQ.ask(ctx, p, calls)
}

// DeliverResult is the deliver hook's outcome for one call, and the trace
// entries of the stages that were asked.
type DeliverResult struct {
	Outcome
	Trace []TraceEntry
	// Rerouted says that stages changed the recipient's route: Route is
	// the one it goes by now, as RoutedBy, the last stage to set it,
	// wrote it.
	Rerouted bool
	Route    string
	RoutedBy string
}

// continueAll is n results that let their calls go on.
func continueAll(n int) []DeliverResult {
	out := make([]DeliverResult, n)
	for i := range out {
		out[i].Action = sdk.ActionContinue
	}
	return out
}

// deliverPass runs calls through the stages that declared the deliver
// hook: at each stage, the calls no earlier stage decided.
func (p *Pipeline) deliverPass(ctx context.Context, calls []DeliverCall) []DeliverResult {
	out := continueAll(len(calls))
	// Each call keeps a Session of its own, for settle: the stage's
	// counters, its log line, and its on_error.
	sessions := make([]*Session, len(calls))
	live := make([]int, len(calls))
	// calls is the pass's own slice (deliverQueue.run): a stage's route
	// goes into the call, for the stages after it to see.
	asQueued := make([]string, len(calls))
	for i := range calls {
		asQueued[i] = calls[i].Rcpt.Route
		s := &Session{p: p}
		s.txn.Session = sdk.Session{ID: "deliver-" + calls[i].Env.QueueID, Listener: "deliver", Notes: calls[i].Notes.Session}
		s.txn.Envelope = calls[i].Env
		s.txn.Notes = calls[i].Notes.Txn
		s.putRouteBy(strings.ToLower(calls[i].Rcpt.Addr), calls[i].RouteBy)
		sessions[i], live[i] = s, i
	}
	for _, e := range p.entries {
		if len(live) == 0 {
			break
		}
		if d, ok := e.Stage.(Declarer); !ok || !d.Declares(sdk.HookDeliver) {
			continue
		}
		start := p.now()
		vs, errs := p.askDeliver(ctx, e, calls, sessions, live)
		// The stage answered every call of the pass in its round trips:
		// each call counts its share of that time, as a delay_reject
		// flush's hooks do (delay.go), so that the stage's latency sum is
		// the time it took, not that time once per recipient.
		per := p.now().Sub(start) / time.Duration(len(live))
		next := make([]int, 0, len(live))
		for k, i := range live {
			rcpt := calls[i].Rcpt
			te := newTraceEntry(e, sdk.HookDeliver, &rcpt)
			o, goOn := sessions[i].settle(e, sdk.HookDeliver, &te, vs[k], errs[k], per, &rcpt, nil)
			out[i].Trace = append(out[i].Trace, te)
			if rcpt.Route != calls[i].Rcpt.Route {
				calls[i].Rcpt.Route, out[i].RoutedBy = rcpt.Route, e.Name
			}
			if goOn {
				next = append(next, i)
				continue
			}
			out[i].Outcome = o
		}
		live = next
	}
	for i := range calls {
		if calls[i].Rcpt.Route != asQueued[i] {
			out[i].Rerouted, out[i].Route = true, calls[i].Rcpt.Route
		}
	}
	return out
}

// askDeliver asks stage e about the calls in live, in one round trip when
// the stage can answer them so, and returns a verdict or an error for
// each.
func (p *Pipeline) askDeliver(ctx context.Context, e *entry, calls []DeliverCall, sessions []*Session, live []int) ([]sdk.Verdict, []error) {
	vs := make([]sdk.Verdict, len(live))
	errs := make([]error, len(live))
	fail := func(err error) ([]sdk.Verdict, []error) {
		for k := range errs {
			errs[k] = err
		}
		return vs, errs
	}
	sess := sdk.Session{ID: "deliver", Listener: "deliver"}
	c, err := e.Stage.Open(ctx, &sess)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrStageDown, err))
	}
	defer c.Close()
	ctx, cancel := sdk.WithCallTimeout(ctx, e.Timeout)
	defer cancel()
	hcs := make([]sdk.HookCall, len(live))
	for k, i := range live {
		// A shallow copy: nothing changes the envelope at deliver, and a
		// deep one per call would copy a message's recipients once for
		// each of them.
		txn, rcpt := sessions[i].txn, calls[i].Rcpt
		// The stage is told when the route is another's, which it may
		// not change (deliveredit.go), so that it can leave it alone
		// rather than reject or discard what that stage routed.
		by := sessions[i].RouteBy(rcpt.Addr)
		rcpt.RouteSetByOther = by != "" && by != e.Name
		hcs[k] = sdk.HookCall{Hook: sdk.HookDeliver, Txn: &txn, Rcpt: &rcpt}
	}
	if ec, ok := c.(EachConn); ok {
		for _, r := range deliverChunks(calls, live) {
			from, to := r[0], r[1]
			got, gotErrs, err := ec.HookEach(ctx, hcs[from:to])
			if err == nil && (len(got) != to-from || len(gotErrs) != to-from) {
				err = fmt.Errorf("%d verdicts and %d errors to %d deliver calls", len(got), len(gotErrs), to-from)
			}
			if err != nil {
				for k := from; k < to; k++ {
					errs[k] = err
				}
				continue
			}
			copy(vs[from:to], got)
			copy(errs[from:to], gotErrs)
		}
		return vs, errs
	}
	// A stage of another kind answers one call at a time.
	for k, hc := range hcs {
		vs[k], errs[k] = c.Hook(ctx, hc.Hook, hc.Txn, hc.Rcpt)
	}
	return vs, errs
}

// maxDeliverFrame bounds the calls sent to a stage in one round trip, by
// their size on the wire as envelopeSize and callSize estimate it: well
// under the protocol's frame limit (sdk.MaxFrameSize).
const maxDeliverFrame = sdk.MaxFrameSize / 4

// deliverChunks cuts the calls in live (a message's calls adjacent, as
// Deliver's callers give them) into round trips, as [from, to) ranges of
// live. A message with several calls goes alone, as many of its calls at
// a time as maxDeliverFrame/2 allows: they share its envelope, which the
// SDK then sends once (sdk.Client.HookEach), so the frame holds one
// envelope and the calls' recipients — not n envelopes of n recipients.
// Messages of one call each go together, each with its envelope, up to
// maxDeliverFrame.
func deliverChunks(calls []DeliverCall, live []int) [][2]int {
	var chunks [][2]int
	same := func(a, b int) bool { return calls[live[a]].Env.QueueID == calls[live[b]].Env.QueueID }
	for from := 0; from < len(live); {
		run := from + 1
		for run < len(live) && same(run, from) {
			run++
		}
		if run-from > 1 {
			for to := from; to < run; {
				start, size := to, 0
				for to < run && (to == start || size+callSize(calls[live[to]]) <= maxDeliverFrame/2) {
					size += callSize(calls[live[to]])
					to++
				}
				chunks = append(chunks, [2]int{start, to})
			}
			from = run
			continue
		}
		start, size := from, 0
		for from < len(live) && (from+1 == len(live) || !same(from+1, from)) {
			c := envelopeSize(calls[live[from]].Env) + callSize(calls[live[from]])
			if from > start && size+c > maxDeliverFrame {
				break
			}
			size += c
			from++
		}
		chunks = append(chunks, [2]int{start, from})
	}
	return chunks
}

// envelopeSize is a generous estimate of e's size in a frame.
func envelopeSize(e sdk.Envelope) int {
	n := 64 + len(e.MailFrom) + len(e.QueueID)
	for k, v := range e.MailParams {
		n += 8 + len(k) + len(v)
	}
	for _, r := range e.Rcpts {
		n += 32 + len(r.Addr) + len(r.Route)
	}
	return n
}

// callSize is a generous estimate of a deliver call's size in a frame,
// its envelope aside.
func callSize(c DeliverCall) int { return 256 + len(c.Rcpt.Addr) + len(c.Rcpt.Route) }
