package pipeline

import "github.com/sluice-mta/sluice/sdk"

// disposition is a discard or quarantine decided by a stage before the
// data hook ended (the zero value: none), which the data hook's outcome
// then carries, and the stage that decided it and why.
type disposition struct {
	action        sdk.Action
	stage, reason string
}

// with is d after stage decided a, a discard or a quarantine, for reason.
// A quarantine after a quarantine keeps the first, the stage that set the
// message aside, for the trace; anything else replaces d. A quarantine
// only marks the message, as Postfix's HOLD (cleanup's
// CLEANUP_FLAG_HOLD): the later stages are still asked, and their
// discard, reject or tempfail still wins.
func (d disposition) with(stage string, a sdk.Action, reason string) disposition {
	if a == sdk.ActionQuarantine && d.action == sdk.ActionQuarantine {
		return d
	}
	return disposition{action: a, stage: stage, reason: reason}
}

// recordDisposition notes a discard or quarantine decided at rcpt: a
// decision about a recipient that is then refused does not stay with the
// message either.
func (s *Session) recordDisposition(stage string, a sdk.Action, reason string) {
	old := s.disp
	s.disp = s.disp.with(stage, a, reason)
	now := s.disp
	s.record(sdk.HookRcpt, func() {
		if s.disp == now {
			s.disp = old
		}
	})
}
