package pipeline

import (
	"context"
	"fmt"

	"github.com/sluice-mta/sluice/sdk"
)

// DeliverCall is one recipient of a queued message that delivery is about
// to send: the message's envelope and the recipient, its Route the route
// it goes by (after routing).
type DeliverCall struct {
	Env  sdk.Envelope
	Rcpt sdk.Recipient
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
// outcome's Action says which). Edits are not applied: at deliver there
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
	for i := range calls {
		s := &Session{p: p}
		s.txn.Session = sdk.Session{ID: "deliver-" + calls[i].Env.QueueID, Listener: "deliver"}
		s.txn.Envelope = calls[i].Env
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
		lat := p.now().Sub(start)
		next := make([]int, 0, len(live))
		for k, i := range live {
			rcpt := calls[i].Rcpt
			te := newTraceEntry(e, sdk.HookDeliver, &rcpt)
			o, goOn := sessions[i].settle(e, sdk.HookDeliver, &te, vs[k], errs[k], lat, &rcpt, nil)
			out[i].Trace = append(out[i].Trace, te)
			if goOn {
				next = append(next, i)
				continue
			}
			out[i].Outcome = o
		}
		live = next
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
		hcs[k] = sdk.HookCall{Hook: sdk.HookDeliver, Txn: &txn, Rcpt: &rcpt}
	}
	if ec, ok := c.(EachConn); ok {
		for from := 0; from < len(hcs); {
			to := from + 1
			for size := deliverCallSize(calls[live[from]]); to < len(hcs); to++ {
				if size += deliverCallSize(calls[live[to]]); size > maxDeliverFrame {
					break
				}
			}
			got, gotErrs, err := ec.HookEach(ctx, hcs[from:to])
			if err == nil && (len(got) != to-from || len(gotErrs) != to-from) {
				err = fmt.Errorf("%d verdicts and %d errors to %d deliver calls", len(got), len(gotErrs), to-from)
			}
			if err != nil {
				for k := from; k < to; k++ {
					errs[k] = err
				}
			} else {
				copy(vs[from:to], got)
				copy(errs[from:to], gotErrs)
			}
			from = to
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
// their size on the wire as deliverCallSize estimates it: well under the
// protocol's frame limit (sdk.MaxFrameSize), as every call carries its
// message's whole envelope.
const maxDeliverFrame = sdk.MaxFrameSize / 4

// deliverCallSize is a generous estimate of c's size in a frame.
func deliverCallSize(c DeliverCall) int {
	n := 256 + len(c.Env.MailFrom) + len(c.Rcpt.Addr) + len(c.Rcpt.Route)
	for _, r := range c.Env.Rcpts {
		n += 32 + len(r.Addr) + len(r.Route)
	}
	return n
}
