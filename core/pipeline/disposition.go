package pipeline

import (
	"slices"

	"github.com/sluice-mta/sluice/sdk"
)

// disposition is a discard or quarantine decided by a stage before the
// data hook ended (the zero value: none), which the data hook's outcome
// then carries, and the stage that decided it and why.
type disposition struct {
	action        sdk.Action
	stage, reason string
}

// with is d after the decisions ds, in order. A discard wins over a
// quarantine, decided before it or after it, as Postfix's cleanup never
// holds a message it discards (its DISCARD over HOLD: CLEANUP_FLAG_DISCARD
// over CLEANUP_FLAG_HOLD). Of two of the same action the first is kept,
// the stage that decided it, for the trace. A quarantine only marks the
// message: the later stages are still asked, and their discard, reject or
// tempfail still wins.
func (d disposition) with(ds ...disposition) disposition {
	for _, n := range ds {
		if d.action != sdk.ActionDiscard && d.action != n.action {
			d = n
		}
	}
	return d
}

// decide notes a discard or quarantine a stage decided at hook (not
// deliver, whose verdict is the recipient's alone). One at connect or
// helo applies to every transaction of the session, as Postfix does for a
// DISCARD at connect time; one at rcpt is undone when its recipient ends
// refused: a decision about a refused recipient does not stay with the
// message either.
func (s *Session) decide(hook sdk.Hook, d disposition) {
	s.disp = s.disp.with(d)
	if hook == sdk.HookConnect || hook == sdk.HookHelo {
		s.sessionDisp = s.sessionDisp.with(d)
		return
	}
	s.decided = append(s.decided, d)
	if hook == sdk.HookRcpt {
		// The undo log runs latest first: the decisions of this RCPT
		// after this one are gone by then, and those of other hooks
		// (a later stage's held mail hook) stay.
		n := len(s.decided) - 1
		s.record(hook, func() {
			s.decided = slices.Delete(s.decided, n, n+1)
			s.disp = s.sessionDisp.with(s.decided...)
		})
	}
}

// dispMark is the decisions as they stood before a hook ran.
type dispMark struct {
	disp, session disposition
	decided       int
}

func (s *Session) markDisp() dispMark {
	return dispMark{disp: s.disp, session: s.sessionDisp, decided: len(s.decided)}
}

// undoDisp forgets the decisions made since m: those of a connect, helo
// or mail that ended refused. The client was told the command failed, so
// what a stage decided at it must not silently discard or hold the
// messages of the session's next greeting or transaction.
func (s *Session) undoDisp(m dispMark) {
	s.disp, s.sessionDisp, s.decided = m.disp, m.session, s.decided[:m.decided]
}

// Disposition is the discard or quarantine decided so far (continue:
// none) and the stage that decided it: with a quarantine, the first
// stage that set the message aside, for the trace's outcome.
func (s *Session) Disposition() (sdk.Action, string) { return s.disp.action, s.disp.stage }
