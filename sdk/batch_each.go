package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// HookEach runs calls that do not depend on one another — deliver hooks
// of different recipients, perhaps of different messages — and returns
// one verdict or one error per call, in order (len(vs) == len(errs) ==
// len(calls)). A plugin that serves independent batches gets them in
// one frame (an independent HookBatch) and may run them at once; any
// other plugin, or the rpc transport, gets each as a call of its own,
// all at once (one goroutine per call), so the caller need not care.
// err is the batch's own failure (transport, timeout, malformed
// answer): then no call has an answer.
//
// Only connect, helo, mail, rcpt and deliver calls may be passed (auth
// carries credentials, data and bounce a message stream); a call of
// another hook, without its transaction or without the recipient rcpt
// and deliver need, fails the whole batch before anything is sent. No
// calls is no work: nil, nil, nil.
//
// A batch that does not fit in one frame (MaxFrameSize), or with a call
// that cannot be encoded, is split in halves, sent at once, and so on
// down to single calls, which go as hook calls of their own: a call too
// large even alone fails with ErrFrameTooLarge as its own error, not
// the batch's. A call still running near ctx's deadline fails alone:
// the plugin answers the others' verdicts before the core gives up on
// the batch (a plugin that answers nothing in time fails the batch).
func (c *Client) HookEach(ctx context.Context, calls []HookCall) (vs []Verdict, errs []error, err error) {
	if len(calls) == 0 {
		return nil, nil, nil
	}
	if err := checkEach(calls); err != nil {
		return nil, nil, fmt.Errorf("sdk: independent hooks: %w", err)
	}
	vs, errs = make([]Verdict, len(calls)), make([]error, len(calls))
	if err := c.hookEach(ctx, calls, vs, errs); err != nil {
		return nil, nil, err
	}
	return vs, errs, nil
}

// BatchesEach reports whether HookEach sends its calls in one frame: the
// plugin serves independent batches and calls go over its direct channel
// or Channel stream.
func (c *Client) BatchesEach() bool { return c.each && c.Multiplexed() }

// hookEach runs calls, checked by checkEach, filling in vs and errs: in
// one frame when the plugin takes independent batches, else each call on
// its own.
func (c *Client) hookEach(ctx context.Context, calls []HookCall, vs []Verdict, errs []error) error {
	if !c.each {
		return c.hookApart(ctx, calls, vs, errs)
	}
	out, sent, err := c.eachFrame(ctx, calls)
	switch {
	case sent == eachUntaken:
		return c.hookApart(ctx, calls, vs, errs)
	case sent == eachUnsent && len(calls) == 1:
		// Too large even alone, or not encodable: as a call of its own
		// it fails with the reason, which is this call's.
		vs[0], errs[0] = c.Hook(ctx, calls[0].Hook, calls[0].Txn, calls[0].Rcpt, nil)
		return nil
	case sent == eachUnsent:
		half := len(calls) / 2
		var wg sync.WaitGroup
		var errA error
		wg.Add(1)
		go func() {
			defer wg.Done()
			errA = c.hookEach(ctx, calls[:half], vs[:half], errs[:half])
		}()
		errB := c.hookEach(ctx, calls[half:], vs[half:], errs[half:])
		wg.Wait()
		return errors.Join(errA, errB)
	case err != nil:
		return fmt.Errorf("sdk: %s: %w", eachName(calls), err)
	}
	if err := eachAnswer(calls, out, vs, errs); err != nil {
		return fmt.Errorf("sdk: %s: plugin answered %w", eachName(calls), err)
	}
	return nil
}

// How eachFrame's batch went.
const (
	eachSent    = iota // sent; the answer or the failure is the batch's
	eachUnsent         // the frame could not be built: nothing was sent
	eachUntaken        // no channel took it: send the calls apart
)

// eachFrame sends calls as an independent batch in one frame, over the
// direct channel when it takes the call, else the Channel stream.
func (c *Client) eachFrame(ctx context.Context, calls []HookCall) (out *pb.VerdictBatch, sent int, err error) {
	if p := c.pool.Load(); p != nil {
		// Encoded straight from calls (encode.go), like Hooks' batches.
		enc := func(b []byte) ([]byte, error) { return appendHookEachFrame(b, calls) }
		r, ok, err := p.call(ctx, enc, false, nil)
		if ok {
			var fe *frameError
			if errors.As(err, &fe) {
				// Refused as it was encoded, before any of it was
				// written (the direct channel's answers fail otherwise).
				return nil, eachUnsent, err
			}
			return r.batch, eachSent, err
		}
	}
	ch, err := c.channel()
	if err != nil {
		return nil, eachSent, err
	}
	if ch == nil {
		return nil, eachUntaken, nil
	}
	reqs, err := hookRequests(calls)
	if err != nil {
		return nil, eachUnsent, err
	}
	b := packEach(calls, reqs)
	if err := checkFrame("independent hook batch", b); err != nil {
		return nil, eachUnsent, err
	}
	r, err := ch.call(ctx, &pb.ChannelFrame{Frame: &pb.ChannelFrame_HookBatch{HookBatch: b}}, nil)
	return r.batch, eachSent, err
}

// hookApart runs each call on its own, all at once, for a plugin or a
// transport without independent batches. A call that fails, its deadline
// passed included, fails alone, as in an independent batch.
func (c *Client) hookApart(ctx context.Context, calls []HookCall, vs []Verdict, errs []error) error {
	if len(calls) == 1 {
		vs[0], errs[0] = c.Hook(ctx, calls[0].Hook, calls[0].Txn, calls[0].Rcpt, nil)
		return nil
	}
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i], errs[i] = c.Hook(ctx, calls[i].Hook, calls[i].Txn, calls[i].Rcpt, nil)
		}()
	}
	wg.Wait()
	return nil
}

// eachAnswer puts the answer to an independent batch in vs and errs: a
// verdict per call, and an error per call, "" for none. The wrong number
// of either is the batch's failure; a call's failure, a verdict that
// does not convert or replaces the body is that call's.
func eachAnswer(calls []HookCall, out *pb.VerdictBatch, vs []Verdict, errs []error) error {
	pvs, msgs := out.GetVerdicts(), out.GetErrors()
	if len(pvs) != len(calls) || len(msgs) != len(calls) {
		return fmt.Errorf("%d verdicts and %d errors to %d calls", len(pvs), len(msgs), len(calls))
	}
	for i, hc := range calls {
		if msgs[i] != "" {
			vs[i], errs[i] = Verdict{}, &eachError{hook: hc.Hook, msg: msgs[i]}
			continue
		}
		vs[i], errs[i] = hookAnswer(hc.Hook, pvs[i], nil)
	}
	return nil
}

// eachError is a call of an independent batch that failed in the plugin,
// with the message the plugin answered for it.
type eachError struct {
	hook Hook
	msg  string
}

func (e *eachError) Error() string { return fmt.Sprintf("sdk: %s hook: plugin: %s", e.hook, e.msg) }

// checkEach refuses what an independent batch cannot carry: hooks other
// than connect, helo, mail, rcpt and deliver, a call without its
// transaction or recipient.
func checkEach(calls []HookCall) error { return checkCalls(calls, true) }

// eachName names an independent batch for an error: "independent
// deliver hooks (40 calls)", its hooks each named once.
func eachName(calls []HookCall) string {
	var names []string
	seen := make(map[Hook]bool)
	for _, hc := range calls {
		if !seen[hc.Hook] {
			seen[hc.Hook] = true
			names = append(names, string(hc.Hook))
		}
	}
	return fmt.Sprintf("independent %s hooks (%d calls)", strings.Join(names, "+"), len(calls))
}

// packEach puts reqs in an independent batch, as appendHookEachFrame
// encodes it: the last call's session and envelope sent once, for every
// call that shares them.
func packEach(calls []HookCall, reqs []*pb.HookRequest) *pb.HookBatch {
	b := packBatch(calls, reqs)
	b.Independent = true
	last := len(calls) - 1
	b.Envelope = reqs[last].Envelope
	for i := range calls {
		if sameEnvelope(&calls[i].Txn.Envelope, &calls[last].Txn.Envelope) {
			reqs[i].Envelope = nil
		}
	}
	return b
}

// sameEnvelope reports whether a and b are one message's envelope, as the
// deliver calls of its recipients share it: the same queue ID, sender and
// parameters and the very same recipient list (not merely an equal one,
// which would take as long to compare as to send).
func sameEnvelope(a, b *Envelope) bool {
	if a == b {
		return true
	}
	return a.QueueID == b.QueueID && a.MailFrom == b.MailFrom && len(a.Rcpts) == len(b.Rcpts) &&
		(len(a.Rcpts) == 0 || &a.Rcpts[0] == &b.Rcpts[0]) && maps.Equal(a.MailParams, b.MailParams)
}
