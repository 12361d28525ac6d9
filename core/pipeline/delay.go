package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// With delay_reject, as with Postfix's smtpd_delay_reject, the connect,
// helo and mail hooks are not asked when the client gets there: the
// session answers 220 and 250 and holds them back until a decision is
// needed, at the first RCPT (or AUTH, or DATA when no stage asks about
// recipients). Then each stage, in order, gets the held-back hooks and
// the current one together: one round trip to a plugin instead of four,
// which is most of a no-op stage's cost. A refusal at connect or helo is
// the reply to every RCPT of the session, one at mail to every RCPT of the
// transaction. A session that ends before a decision never asks them.
//
// Each stage still sees its hooks in SMTP order, each with the session and
// envelope as they were at that hook, and a later stage sees what earlier
// ones decided; what changes is that a stage's rcpt hook runs before a
// later stage's mail hook, so it does not see an edit that stage makes at
// mail.

// BatchConn is implemented by a Conn that takes several envelope hooks in
// one call (a plugin serving hook batches). Hooks follows sdk.Client.Hooks:
// it answers a prefix of calls, stopping after the first verdict that is
// not sdk.Verdict.PlainContinue, so the rest are asked again built from
// the transaction as that verdict left it.
type BatchConn interface {
	Hooks(ctx context.Context, calls []sdk.HookCall) ([]sdk.Verdict, error)
}

// heldHook is a hook held back by delay_reject, with the session as the
// hook saw it; stages before from have had it already.
type heldHook struct {
	hook sdk.Hook
	sess sdk.Session
	from int
}

// SetDelayReject turns delay_reject on or off; call it before the
// pipeline is used.
func (p *Pipeline) SetDelayReject(on bool) { p.delay = on }

// DelayReject reports whether the pipeline holds hooks back.
func (p *Pipeline) DelayReject() bool { return p.delay }

// hold keeps hook for the next decision.
func (s *Session) hold(hook sdk.Hook) Outcome {
	s.held = append(s.held, heldHook{hook: hook, sess: s.txn.Session})
	return Outcome{Action: sdk.ActionContinue}
}

// refused is the refusal an earlier decision made for the rest of the
// session or transaction, if any.
func (s *Session) refused() (Outcome, bool) {
	if s.sessionRefusal != nil {
		return *s.sessionRefusal, true
	}
	if s.txnRefusal != nil {
		return *s.txnRefusal, true
	}
	return Outcome{}, false
}

// dropHeldMail forgets a held mail hook when its transaction ends before
// a decision was needed; held connect and helo hooks stay.
func (s *Session) dropHeldMail() {
	kept := s.held[:0]
	for _, h := range s.held {
		if h.hook != sdk.HookMail {
			kept = append(kept, h)
		}
	}
	s.held = kept
	s.txnRefusal = nil
}

// flush asks the held hooks, and the rcpt hook for rcpt when it is not
// nil, stage by stage. The outcome is the rcpt's, or a refusal one of the
// held hooks made, which is kept for later RCPTs.
func (s *Session) flush(ctx context.Context, rcpt *sdk.Recipient) Outcome {
	items := s.held
	s.held = nil
	if rcpt != nil {
		items = append(items, heldHook{hook: sdk.HookRcpt, sess: s.txn.Session})
	}
	if len(items) == 0 {
		return Outcome{Action: sdk.ActionContinue}
	}
	f := &flushRun{s: s, items: items, rcpt: rcpt, traces: make([][]TraceEntry, len(items)), ended: make([]bool, len(items))}
	// Each item gets at most an entry per stage: one array holds them all.
	n := len(s.p.entries)
	all := make([]TraceEntry, len(items)*n)
	for j := range f.traces {
		f.traces[j] = all[j*n : j*n : (j+1)*n]
	}
	o := f.run(ctx)
	// The trace reads hook by hook, as without delay_reject.
	for j, it := range items {
		for _, te := range f.traces[j] {
			s.addTrace(it.hook, te)
		}
	}
	return o
}

// flushRun is one flush in progress.
type flushRun struct {
	s      *Session
	items  []heldHook
	rcpt   *sdk.Recipient
	traces [][]TraceEntry // per item, in stage order
	ended  []bool         // per item: a stage accepted, later ones skip it
}

func (f *flushRun) run(ctx context.Context) Outcome {
	s := f.s
	out := Outcome{Action: sdk.ActionContinue}
	for i, e := range s.p.entries {
		c := s.conns[i]
		if s.notFor.has(i) || s.dryOver.has(i) {
			continue
		}
		var todo []int
		for j, it := range f.items {
			if !f.ended[j] && i >= it.from && (c == nil || c.Wants(it.hook)) {
				todo = append(todo, j)
			}
		}
		for len(todo) > 0 {
			start := s.p.now()
			var vs []sdk.Verdict
			var err error
			if c == nil {
				err = fmt.Errorf("%w: %v", ErrStageDown, s.openErr[i])
			} else {
				s.asked.add(i)
				vs, err = f.call(ctx, e, c, todo)
				if len(vs) == 0 && err == nil {
					err = fmt.Errorf("stage answered none of %d hooks", len(todo))
				}
			}
			lat := s.p.now().Sub(start)
			n := len(vs)
			if err != nil {
				n++
			}
			per := lat / time.Duration(n)
			for k, v := range vs {
				j := todo[k]
				o, goOn := f.settle(e, j, v, nil, per)
				if s.dryOver.has(i) {
					break // a milter in dry run done (dryrun.go)
				}
				if goOn {
					continue
				}
				if o.Action == sdk.ActionAccept {
					f.ended[j] = true
					if f.items[j].hook == sdk.HookRcpt {
						out = o
					}
					continue
				}
				return f.refuse(i, j, o, nil)
			}
			if s.dryOver.has(i) {
				break
			}
			todo = todo[len(vs):]
			if err != nil {
				// The stage failed at the next hook; on_error decides as
				// for a single call. When the stage failed the whole
				// round trip (it died, or ran out of time) and did not
				// say at which hook, the failure is the decision's being
				// made, the last hook; the others it was asked stay
				// unanswered.
				at, known := 0, errors.As(err, new(*sdk.BatchCallError))
				if !known {
					at = len(todo) - 1
				}
				o, goOn := f.settle(e, todo[at], sdk.Verdict{}, err, per)
				if !goOn {
					return f.refuse(i, todo[at], o, todo[:at])
				}
				if !known {
					break // a stage passed over is skipped for the rest
				}
				todo = todo[1:]
			}
		}
	}
	return out
}

// settle is Session.settle for item j.
func (f *flushRun) settle(e *entry, j int, v sdk.Verdict, err error, lat time.Duration) (Outcome, bool) {
	hook := f.items[j].hook
	var rcpt *sdk.Recipient
	if hook == sdk.HookRcpt {
		rcpt = f.rcpt
	}
	te := newTraceEntry(e, hook, rcpt)
	o, goOn := f.s.settle(e, hook, &te, v, err, lat, rcpt, nil)
	f.traces[j] = append(f.traces[j], te)
	return o, goOn
}

// call asks stage e the items todo, in one round trip when it can. It
// returns the verdicts of those answered, and err when the next failed
// (an *sdk.BatchCallError), or the round trip did. The stage's timeout is
// per hook, so the round trip has it once per hook in it.
func (f *flushRun) call(ctx context.Context, e *entry, c Conn, todo []int) ([]sdk.Verdict, error) {
	ctx, cancel := sdk.WithCallTimeout(ctx, e.Timeout*time.Duration(len(todo)))
	defer cancel()
	// The calls share one copy of the transaction's slices and one
	// allocation for their transactions.
	base := f.s.snapshotValue()
	txns := make([]sdk.Txn, len(todo))
	calls := make([]sdk.HookCall, len(todo))
	for k, j := range todo {
		txns[k] = base
		calls[k] = f.hookCall(j, &txns[k])
	}
	if bc, ok := c.(BatchConn); ok {
		return bc.Hooks(ctx, calls)
	}
	var vs []sdk.Verdict
	for k, hc := range calls {
		v, err := c.Hook(ctx, hc.Hook, hc.Txn, hc.Rcpt)
		if err != nil {
			return vs, &sdk.BatchCallError{Index: k, Hook: hc.Hook, Err: err}
		}
		vs = append(vs, v)
		if !v.PlainContinue() {
			break
		}
	}
	return vs, nil
}

// hookCall is item j as its stage sees it now, in t (a snapshot): connect and helo with the
// session of their time and no envelope, mail and rcpt with the envelope
// as earlier stages (and the stage's own earlier hooks) left it. Notes
// are as earlier stages left them, in this flush too. A stage's own note
// ends its batch (SetNote is an edit: the verdict is not PlainContinue),
// so its later hooks of the flush are sent again, rebuilt, and see it.
func (f *flushRun) hookCall(j int, t *sdk.Txn) sdk.HookCall {
	it := f.items[j]
	// The session of the hook's time, with the notes of now: those the
	// stages before this one set at the hooks of this flush.
	notes := t.Session.Notes
	t.Session = it.sess
	t.Session.Notes = notes
	hc := sdk.HookCall{Hook: it.hook, Txn: t}
	switch it.hook {
	case sdk.HookConnect, sdk.HookHelo:
		t.Envelope = sdk.Envelope{}
		t.Notes = nil
	case sdk.HookRcpt:
		hc.Rcpt = f.rcpt
	}
	return hc
}

// refuse ends the flush with stage i's refusal at item j. A refusal at
// mail leaves the session going, one at rcpt the transaction too: the
// hooks of theirs later stages were not asked yet stay held for them, and
// those stage i was asked but did not answer (unanswered) for it too.
func (f *flushRun) refuse(i, j int, o Outcome, unanswered []int) Outcome {
	if h := f.items[j].hook; h == sdk.HookMail || h == sdk.HookRcpt {
		for k, it := range f.items[:j] {
			keep := it.hook == sdk.HookConnect || it.hook == sdk.HookHelo || (it.hook == sdk.HookMail && h == sdk.HookRcpt)
			if keep && !f.ended[k] {
				it.from = i + 1
				if slices.Contains(unanswered, k) {
					it.from = i
				}
				f.s.held = append(f.s.held, it)
			}
		}
	}
	return f.s.keepRefusal(f.items[j].hook, o)
}

// keepRefusal remembers a refusal made at a held hook for the rest of its
// session (connect, helo) or transaction (mail).
func (s *Session) keepRefusal(hook sdk.Hook, o Outcome) Outcome {
	if o.Reply == nil {
		return o
	}
	switch hook {
	case sdk.HookConnect, sdk.HookHelo:
		s.sessionRefusal = &o
	case sdk.HookMail:
		s.txnRefusal = &o
	}
	return o
}
