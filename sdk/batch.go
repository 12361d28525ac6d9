package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// HookCall is one call of a hook batch (see Client.Hooks).
type HookCall struct {
	Hook Hook       // HookConnect, HookHelo, HookMail or HookRcpt (others: error)
	Txn  *Txn       // the transaction as this call sees it
	Rcpt *Recipient // the candidate recipient at rcpt; nil otherwise
}

// Hooks runs calls in order on the plugin and returns the verdicts of a
// prefix of them: it stops after the first verdict that is not
// Verdict.PlainContinue (the caller applies that one and sends the rest
// again, rebuilt). It returns at least one verdict unless err != nil.
//
// When one call fails, Hooks returns the verdicts of the calls before it
// (plain Continues, maybe none) and a *BatchCallError saying which call
// failed. Any other error is the whole batch's (the plugin died, the
// deadline passed, or a plugin of an older SDK failed a call without
// saying which), and comes with no verdicts.
//
// A plugin that does not serve batches (declared at Init), or a client on
// the rpc transport, gets the calls one at a time, with the same stopping
// rule, so the caller need not care.
func (c *Client) Hooks(ctx context.Context, calls []HookCall) ([]Verdict, error) {
	if err := checkBatch(calls); err != nil {
		return nil, fmt.Errorf("sdk: hook batch: %w", err)
	}
	if c.batch {
		// Over the direct channel the batch is encoded straight from
		// calls (encode.go).
		if p := c.pool.Load(); p != nil {
			enc := func(b []byte) ([]byte, error) { return appendHookBatchFrame(b, calls) }
			if r, ok, err := p.call(ctx, enc, false, nil); ok {
				return batchAnswer(calls, r.batch, err)
			}
		}
	}
	if c.batch {
		reqs, err := batchRequests(calls)
		if err != nil {
			return nil, fmt.Errorf("sdk: hook batch: %w", err)
		}
		b := packBatch(calls, reqs)
		out, ok, err := c.hookBatch(ctx, b)
		unpackBatch(b)
		if ok {
			return batchAnswer(calls, out, err)
		}
	}
	var vs []Verdict
	for i, hc := range calls {
		v, err := c.Hook(ctx, hc.Hook, hc.Txn, hc.Rcpt, nil)
		if err != nil {
			return vs, &BatchCallError{Index: i, Hook: hc.Hook, Err: err}
		}
		vs = append(vs, v)
		if !v.PlainContinue() {
			break
		}
	}
	return vs, nil
}

// batchAnswer is Hooks' result from a batch's answer out, or err.
func batchAnswer(calls []HookCall, out *pb.VerdictBatch, err error) ([]Verdict, error) {
	if err != nil {
		return nil, fmt.Errorf("sdk: %s hooks: %w", batchName(calls), err)
	}
	vs, err := batchVerdicts(out, len(calls))
	if err != nil {
		return nil, fmt.Errorf("sdk: %s hooks: plugin answered %w", batchName(calls), err)
	}
	if msg := out.GetFailed(); msg != "" {
		i := len(vs)
		return vs, &BatchCallError{Index: i, Hook: calls[i].Hook, Err: errors.New("plugin: " + msg)}
	}
	return vs, nil
}

// BatchCallError is a hook batch's failure at one of its calls: the calls
// before it answered, and call Index, of hook Hook, failed with Err.
type BatchCallError struct {
	Index int
	Hook  Hook
	Err   error
}

func (e *BatchCallError) Error() string {
	return fmt.Sprintf("sdk: %s hook (call %d of a batch): %v", e.Hook, e.Index+1, e.Err)
}

func (e *BatchCallError) Unwrap() error { return e.Err }

// checkBatch refuses what cannot be batched: no calls, hooks other than
// connect, helo, mail and rcpt (auth carries credentials, data and bounce
// a message stream), a call without its transaction or recipient.
func checkBatch(calls []HookCall) error { return checkCalls(calls, false) }

// checkCalls refuses what a batch cannot carry: no calls, a hook other
// than connect, helo, mail and rcpt (and deliver, in an independent
// batch), a call without its transaction or recipient.
func checkCalls(calls []HookCall, independent bool) error {
	if len(calls) == 0 {
		return errors.New("no calls")
	}
	only := "connect, helo, mail and rcpt"
	if independent {
		only = "connect, helo, mail, rcpt and deliver"
	}
	for i, hc := range calls {
		switch {
		case hc.Hook == HookConnect, hc.Hook == HookHelo, hc.Hook == HookMail, hc.Hook == HookRcpt:
		case independent && hc.Hook == HookDeliver:
		default:
			return fmt.Errorf("call %d: the %s hook cannot be batched (only %s)", i, hc.Hook, only)
		}
		if err := checkHook(hc.Hook, hc.Txn, hc.Rcpt, nil); err != nil {
			return fmt.Errorf("call %d (%s): %w", i, hc.Hook, err)
		}
	}
	return nil
}

// packBatch puts reqs in a batch, sending the session they share once:
// the last call's, which the calls of a transaction have in common.
func packBatch(calls []HookCall, reqs []*pb.HookRequest) *pb.HookBatch {
	b := &pb.HookBatch{Calls: reqs}
	last := len(calls) - 1
	b.Session = reqs[last].Session
	for i, hc := range calls {
		if SameSession(&hc.Txn.Session, &calls[last].Txn.Session) {
			reqs[i].Session = nil
		}
	}
	return b
}

// unpackBatch gives each call of b its session back.
func unpackBatch(b *pb.HookBatch) {
	for _, req := range b.Calls {
		if req.Session == nil {
			req.Session = b.Session
		}
	}
}

// Batches reports whether Hooks sends its calls in one frame: the plugin
// serves batches and calls go over its direct channel or Channel stream.
func (c *Client) Batches() bool { return c.batch && c.Multiplexed() }

// batchRequests converts calls for the wire, refusing hooks that cannot
// be batched: auth carries credentials, and data and bounce a message
// stream.
func batchRequests(calls []HookCall) ([]*pb.HookRequest, error) {
	if err := checkBatch(calls); err != nil {
		return nil, err
	}
	return hookRequests(calls)
}

// hookRequests converts calls, checked, for the wire.
func hookRequests(calls []HookCall) ([]*pb.HookRequest, error) {
	reqs := make([]*pb.HookRequest, len(calls))
	for i, hc := range calls {
		req, err := hookRequest(hc.Hook, hc.Txn, hc.Rcpt, nil)
		if err != nil {
			return nil, fmt.Errorf("call %d (%s): %w", i, hc.Hook, err)
		}
		reqs[i] = req
	}
	return reqs, nil
}

// hookBatch sends b in one frame over the Channel stream; ok is false
// when there is none (the Client was closed), and the caller sends the
// calls one at a time.
func (c *Client) hookBatch(ctx context.Context, b *pb.HookBatch) (out *pb.VerdictBatch, ok bool, err error) {
	ch, err := c.channel()
	if err != nil {
		return nil, true, err
	}
	if ch == nil {
		return nil, false, nil
	}
	if err := checkFrame("hook batch", b); err != nil {
		return nil, true, err
	}
	r, err := ch.call(ctx, &pb.ChannelFrame{Frame: &pb.ChannelFrame_HookBatch{HookBatch: b}}, nil)
	return r.batch, true, err
}

// batchVerdicts checks and converts the answer to a batch of n calls: one
// verdict per call run, which is all of them unless one stopped the batch,
// and every one but the last a plain Continue; when a call failed
// (failed), the verdicts of the calls before it, all plain Continues.
func batchVerdicts(out *pb.VerdictBatch, n int) ([]Verdict, error) {
	pvs := out.GetVerdicts()
	failed := out.GetFailed() != ""
	if (len(pvs) == 0 && !failed) || len(pvs) > n || (failed && len(pvs) == n) {
		return nil, fmt.Errorf("%d verdicts to %d calls", len(pvs), n)
	}
	vs := make([]Verdict, len(pvs))
	for i, p := range pvs {
		v, err := verdictFromPB(p)
		if err != nil {
			return nil, fmt.Errorf("verdict %d: %w", i, err)
		}
		if j, _ := replaceBodyIndex(v.Edits); j >= 0 {
			return nil, fmt.Errorf("verdict %d: ReplaceBody outside the data stream", i)
		}
		last := i == len(pvs)-1 && !failed
		if !last && !v.PlainContinue() {
			return nil, fmt.Errorf("verdict %d (%v) and more after it: the batch should have stopped there", i, v.Action)
		}
		if last && len(pvs) < n && v.PlainContinue() {
			return nil, fmt.Errorf("%d verdicts to %d calls, the last a plain Continue: the batch stopped early", len(pvs), n)
		}
		vs[i] = v
	}
	return vs, nil
}

// batchName names a batch's hooks for an error: "connect+helo+mail+rcpt".
func batchName(calls []HookCall) string {
	names := make([]string, len(calls))
	for i, hc := range calls {
		names[i] = string(hc.Hook)
	}
	return strings.Join(names, "+")
}
