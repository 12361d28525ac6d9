package pipeline

import (
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// A stage in dry run (dry_run = true) is asked its hooks as any other,
// but nothing it answers is applied: a reject, tempfail, discard,
// quarantine or accept acts as continue, its edits (notes and
// authentication results included) are left out, and its failure does
// not call on_error. A later stage sees the transaction as if the stage
// did not exist. What it would have done goes to the trace, the log and
// the dry-run observer (sluice_stage_dry_run_total), so that a new filter
// can be watched in production before it is switched on, as rspamd's
// dry-run or a gateway's monitor mode.

// DryRunObserver is told of every answer of a stage in dry run: the
// action it would have taken, or "error".
type DryRunObserver func(stage string, hook sdk.Hook, would string)

// SetDryRunObserver installs o; call it before the pipeline is used.
func (p *Pipeline) SetDryRunObserver(o DryRunObserver) { p.observeDry = o }

// dryRunVerdict is what a stage's regular counters record for a call in
// dry run: its answer was not the hook's, so it is not counted as one.
const dryRunVerdict = "dry_run"

// settleDryRun is settle for a stage in dry run: it records what the
// stage would have done and lets the next stage be asked.
func (s *Session) settleDryRun(e *entry, hook sdk.Hook, te *TraceEntry, v sdk.Verdict, err error, lat time.Duration) {
	te.Latency, te.LatencyMs, te.DryRun = lat, ms(lat), true
	would := "error"
	if err != nil {
		e.stats.record(lat, "error", true)
		if s.p.observe != nil {
			s.p.observe(e.Name, hook, "error", lat, true)
		}
		te.Action, te.Error, te.OnError = "dry run: error", err.Error(), "not applied (dry run)"
		s.p.log.Info("stage dry run", "stage", e.Name, "hook", string(hook), "would", would, "err", err, "rcpt", te.Rcpt, "session", s.txn.Session.ID)
	} else {
		would = v.Action.String()
		e.stats.record(lat, dryRunVerdict, false)
		if s.p.observe != nil {
			s.p.observe(e.Name, hook, dryRunVerdict, lat, false)
		}
		te.Action, te.Reason = would, v.Reason
		if !v.PlainContinue() {
			// Only what would have changed something is marked and
			// logged: a plain continue is the same in dry run.
			te.Action = "dry run: would " + would
			if v.Action == sdk.ActionReject || v.Action == sdk.ActionTempfail {
				te.Reply = verdictReply(v).String()
			}
			for _, ed := range v.Edits {
				te.Edits = append(te.Edits, "would "+sdk.DescribeEdit(ed)+" (dry run: not applied)")
			}
			s.p.log.Info("stage dry run", "stage", e.Name, "hook", string(hook), "would", would, "reply", te.Reply,
				"edits", len(v.Edits), "rcpt", te.Rcpt, "session", s.txn.Session.ID)
		}
	}
	e.stats.recordDry(would)
	if s.p.observeDry != nil {
		s.p.observeDry(e.Name, hook, would)
	}
	s.dryRunDone(e, hook, v, err)
}

// dryRunDone stops asking a milter in dry run for the rest of the
// transaction, or at connect and helo of the session, once it refused or
// discarded: the milter protocol holds the transaction (or session) over
// for it then, as Postfix stops sending events to a milter that
// rejected, and it would not expect the message to go on. A reject or
// tempfail at RCPT refuses that recipient only (milter protocol,
// "Responses"; core/milter's verdict): the milter is asked the next
// recipients and the message, as after a real one.
func (s *Session) dryRunDone(e *entry, hook sdk.Hook, v sdk.Verdict, err error) {
	if err != nil || e.Stage.Kind() != "milter" {
		return
	}
	switch v.Action {
	case sdk.ActionReject, sdk.ActionTempfail:
		if hook == sdk.HookRcpt {
			return
		}
	case sdk.ActionDiscard:
	default:
		return
	}
	i := s.p.index(e)
	if i < 0 {
		return
	}
	if hook == sdk.HookConnect || hook == sdk.HookHelo {
		s.dryOverSession.add(i)
	}
	s.dryOver.add(i)
}

// index is e's position in the pipeline, or -1.
func (p *Pipeline) index(e *entry) int {
	for i, o := range p.entries {
		if o == e {
			return i
		}
	}
	return -1
}

// endDryTxn starts a new transaction for the milters in dry run: those
// done with the last transaction only are asked again.
func (s *Session) endDryTxn() {
	s.dryOver = stageSet{lo: s.dryOverSession.lo}
	for i := range s.dryOverSession.hi {
		s.dryOver.add(i)
	}
}

// ChecksAuthFor is DeclaresFor(sdk.HookAuth, listener) without the
// stages in dry run: one of those is asked at AUTH but authenticates and
// refuses no one (its accept and reject act as continue; the next stage
// or the user database decides), so it is no way in for a listener that
// requires AUTH.
func (p *Pipeline) ChecksAuthFor(listener string) bool {
	skip := p.notFor(listener)
	for i, e := range p.entries {
		if skip.has(i) || e.DryRun {
			continue
		}
		if d, ok := e.Stage.(Declarer); ok && d.Declares(sdk.HookAuth) {
			return true
		}
	}
	return false
}
