package pipeline

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// The disconnect hook tells a stage that an SMTP session it was asked
// about is over, so that a plugin can free what it kept of it (Haraka's
// hook_disconnect, a milter's xxfi_close). It goes once, after the
// client's last reply, to each stage that declares it and was asked some
// hook of the session (with delay_reject, a session that ended before a
// decision asks none), in stage order, with the session as it ended. Its
// verdict is ignored and its failure only logged: the session has no
// step left for on_error to decide. Milters are never asked: closing
// their connection, as Close does, is their end of the session.

// stageSet is a set of stage indexes: a word for the first 64, every
// pipeline in practice, so that a session allocates nothing for it.
type stageSet struct {
	lo uint64
	hi map[int]bool
}

func (s *stageSet) add(i int) {
	if i < 64 {
		s.lo |= 1 << i
		return
	}
	if s.hi == nil {
		s.hi = map[int]bool{}
	}
	s.hi[i] = true
}

func (s *stageSet) has(i int) bool {
	if i < 64 {
		return s.lo&(1<<i) != 0
	}
	return s.hi[i]
}

// Close ends the session: End, and its disconnect hooks at once.
func (s *Session) Close() {
	if disconnect := s.End(); disconnect != nil {
		disconnect(context.Background())
	}
}

// End ends the session: every stage's session is closed now (a milter
// says QUIT), but those of the stages owed the disconnect hook, which the
// returned function asks, each with its timeout, closing their sessions
// after it. The caller runs it once the client is gone, so that the
// client never waits for it; nil when no stage is owed one.
func (s *Session) End() (disconnect func(ctx context.Context)) {
	var owed []int
	for i, c := range s.conns {
		switch {
		case c == nil:
		case s.asked.has(i) && c.Wants(sdk.HookDisconnect):
			owed = append(owed, i)
		default:
			_ = c.Close()
		}
	}
	if len(owed) == 0 {
		return nil
	}
	sess := s.txn.Session
	return func(ctx context.Context) {
		for _, i := range owed {
			s.disconnect(ctx, i, sess)
			_ = s.conns[i].Close()
		}
	}
}

// closeConns closes every stage's session without the disconnect hook,
// for a session that is no SMTP session (a report's, at the bounce hook).
func (s *Session) closeConns() {
	for _, c := range s.conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// disconnect asks stage i's disconnect hook about sess. The call counts
// in the stage's counters and latencies like any other.
func (s *Session) disconnect(ctx context.Context, i int, sess sdk.Session) {
	e := s.p.entries[i]
	ctx, cancel := sdk.WithCallTimeout(ctx, e.Timeout)
	start := s.p.now()
	v, err := s.conns[i].Hook(ctx, sdk.HookDisconnect, &sdk.Txn{Session: sess}, nil)
	cancel()
	lat := s.p.now().Sub(start)
	verdict := v.Action.String()
	if err != nil {
		verdict = "error"
	}
	e.stats.record(lat, verdict, err != nil)
	if s.p.observe != nil {
		s.p.observe(e.Name, sdk.HookDisconnect, verdict, lat, err != nil)
	}
	switch {
	case err != nil:
		s.p.log.Warn("stage failed", "stage", e.Name, "hook", string(sdk.HookDisconnect), "err", err, "session", sess.ID)
	case !v.PlainContinue():
		s.p.log.Debug("stage verdict ignored at disconnect", "stage", e.Name, "action", verdict, "reason", v.Reason, "session", sess.ID)
	}
}
