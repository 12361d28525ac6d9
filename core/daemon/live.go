package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/core/smtpd"
	"github.com/sluice-mta/sluice/sdk"
)

// generation is one built pipeline: its started stages and the Policy that
// runs it. A reload makes a new generation; the old one is closed once the
// last session (or bounce report) using it is over.
type generation struct {
	*pipelineStages
	policy smtpd.Policy // nil for an empty pipeline: the built-in rules alone

	// Guarded by livePolicy.mu.
	refs    int
	retired bool
}

// newGeneration starts c's stages. hostname is the authserv-id of the
// Authentication-Results fields the pipeline writes.
//
// prev is the generation a reload replaces (nil at start): its unchanged
// plugin stages are shared rather than restarted.
func newGeneration(c *config.Config, hostname string, o buildOptions, m *metrics.Metrics, prev *generation) (*generation, error) {
	if prev != nil {
		o.prev = prev.pipelineStages
	}
	log := o.log
	ps, err := buildPipeline(c, o)
	if err != nil {
		return nil, err
	}
	p := ps.pipe
	if m != nil {
		p.SetObserver(func(stage string, hook sdk.Hook, verdict string, lat time.Duration, failed bool) {
			m.StageCall(stage, string(hook), verdict, lat, failed)
		})
		p.SetDryRunObserver(func(stage string, hook sdk.Hook, would string) {
			m.StageDryRun(stage, string(hook), would)
		})
	}
	g := &generation{pipelineStages: ps}
	if p.Len() > 0 {
		pp := pipelinePolicy{p: p, hostname: hostname, log: log}
		if p.Declares(sdk.HookAuth) {
			g.policy = authPipelinePolicy{pp}
		} else {
			g.policy = pp
		}
	}
	return g, nil
}

func (g *generation) close() error {
	var errs []error
	for _, s := range g.stages {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// livePolicy is the Policy the listeners hold for the daemon's lifetime. It
// hands each new session to the current generation and keeps every open
// session on the generation it began with, so a reload changes the
// pipeline for new sessions without touching one in flight.
type livePolicy struct {
	log *slog.Logger

	mu      sync.Mutex
	cur     *generation
	closing sync.WaitGroup // retired generations being closed
	// ending are the sessions whose disconnect hooks run (Close), by
	// their listener's SessionInfo; ends counts them.
	ending map[*smtpd.SessionInfo]chan struct{}
	ends   sync.WaitGroup
	// endSlots holds a token per session whose disconnect hooks run in
	// the background: at most maxBackgroundEnds (see Close).
	endSlots chan struct{}
	// endCtx is the disconnect hooks' context; shutdown cancels it
	// (stopEnds) when they outlast the drain.
	endCtx   context.Context
	stopEnds context.CancelFunc
}

// maxBackgroundEnds bounds the sessions whose disconnect hooks run after
// their connection closed. A stage slow to answer them (a plugin stuck on
// its store, with a long timeout) would otherwise pile up a goroutine and
// a call per closed session, without bound, while the listeners, whose
// max_connections no longer counts those sessions, let new ones in.
const maxBackgroundEnds = 1024

// liveState is what livePolicy keeps in SessionInfo.State: the session's
// generation and that generation's own state.
type liveState struct {
	gen   *generation
	inner any
}

func newLivePolicy(g *generation, log *slog.Logger) *livePolicy {
	lp := &livePolicy{cur: g, log: log, ending: map[*smtpd.SessionInfo]chan struct{}{},
		endSlots: make(chan struct{}, maxBackgroundEnds)}
	lp.endCtx, lp.stopEnds = context.WithCancel(context.Background())
	return lp
}

// current returns the generation new sessions get.
func (lp *livePolicy) current() *generation {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.cur
}

// acquire returns the current generation, which stays open until release.
func (lp *livePolicy) acquire() *generation {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	lp.cur.refs++
	return lp.cur
}

func (lp *livePolicy) release(g *generation) {
	lp.mu.Lock()
	g.refs--
	done := g.retired && g.refs == 0
	lp.mu.Unlock()
	if done {
		lp.closeGen(g)
	}
}

// swap makes g current and retires the generation it replaces.
func (lp *livePolicy) swap(g *generation) {
	lp.mu.Lock()
	old := lp.cur
	lp.cur = g
	old.retired = true
	done := old.refs == 0
	lp.mu.Unlock()
	if done {
		lp.closeGen(old)
	}
}

// closeGen stops a retired generation's stages in the background: it is
// called from the session that was the last to use them.
func (lp *livePolicy) closeGen(g *generation) {
	lp.closing.Add(1)
	go func() {
		defer lp.closing.Done()
		if err := g.close(); err != nil {
			lp.log.Warn("stopping the stages of the previous pipeline", "err", err)
		}
	}()
}

// shutdown stops the current generation and waits for retired ones; every
// session must be over. The disconnect hooks of the sessions the drain
// closed go first, while their stages still run; those still unanswered
// when ctx ends are cancelled (their stages' timeouts, up to one per
// stage a session asked, could hold the stop far past the drain timeout
// that a service manager's stop timeout is reckoned from).
func (lp *livePolicy) shutdown(ctx context.Context) error {
	ended := make(chan struct{})
	go func() {
		lp.ends.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		lp.log.Warn("drain: disconnect hooks still unanswered after the drain timeout were cancelled")
		lp.stopEnds()
		<-ended
	}
	lp.stopEnds()
	lp.mu.Lock()
	g := lp.cur
	lp.mu.Unlock()
	err := g.close()
	lp.closing.Wait()
	return err
}

// delegate runs f with info.State set to the session's own state in its
// generation's Policy; it does nothing for a session without one.
func delegate(info *smtpd.SessionInfo, f func(p smtpd.Policy)) {
	st, _ := info.State.(*liveState)
	if st == nil || st.gen.policy == nil {
		return
	}
	info.State = st.inner
	defer func() { info.State = st }()
	f(st.gen.policy)
}

// Connect binds the session to the current generation. After XCLIENT,
// which ends the connection's session and starts another under the same
// ID, it waits for the disconnect hooks of the one before: a plugin
// keeping state by session ID must not hear of the end of the proxy's
// session after the start of the client's.
func (lp *livePolicy) Connect(ctx context.Context, info *smtpd.SessionInfo) *reply.Reply {
	lp.mu.Lock()
	ending := lp.ending[info]
	lp.mu.Unlock()
	if ending != nil {
		select {
		case <-ending:
		case <-ctx.Done():
		}
	}
	g := lp.acquire()
	st := &liveState{gen: g}
	if g.policy == nil {
		info.State = st
		return nil
	}
	info.State = nil
	r := g.policy.Connect(ctx, info)
	st.inner = info.State
	info.State = st
	return r
}

func (lp *livePolicy) Helo(ctx context.Context, info *smtpd.SessionInfo) (r *reply.Reply) {
	delegate(info, func(p smtpd.Policy) { r = p.Helo(ctx, info) })
	return r
}

func (lp *livePolicy) Mail(ctx context.Context, info *smtpd.SessionInfo, from string) (r *reply.Reply) {
	delegate(info, func(p smtpd.Policy) { r = p.Mail(ctx, info, from) })
	return r
}

func (lp *livePolicy) Rcpt(ctx context.Context, info *smtpd.SessionInfo, rc *envelope.Recipient) (r *reply.Reply) {
	delegate(info, func(p smtpd.Policy) { r = p.Rcpt(ctx, info, rc) })
	return r
}

func (lp *livePolicy) Data(ctx context.Context, info *smtpd.SessionInfo, tx *smtpd.Transaction) (r *reply.Reply) {
	delegate(info, func(p smtpd.Policy) { r = p.Data(ctx, info, tx) })
	return r
}

func (lp *livePolicy) Reset(ctx context.Context, info *smtpd.SessionInfo) {
	delegate(info, func(p smtpd.Policy) { p.Reset(ctx, info) })
}

// Auth asks the session's generation when it has an auth hook.
func (lp *livePolicy) Auth(ctx context.Context, info *smtpd.SessionInfo, mech, user string, secret []byte) (v smtpd.AuthVerdict) {
	delegate(info, func(p smtpd.Policy) {
		if ap, ok := p.(smtpd.AuthPolicy); ok {
			v = ap.Auth(ctx, info, mech, user, secret)
		}
	})
	return v
}

// AuthActive reports whether the current pipeline has an auth hook for
// listener's sessions, so that the listener offers AUTH for it: a stage
// limited to other listeners is never asked there.
func (lp *livePolicy) AuthActive(listener string) bool {
	g := lp.current()
	_, ok := g.policy.(smtpd.AuthPolicy)
	return ok && g.pipe.DeclaresFor(sdk.HookAuth, listener)
}

// sessionEnder is a Policy whose Close can leave the stages' disconnect
// hooks to its caller (pipelinePolicy.end).
type sessionEnder interface {
	end(info *smtpd.SessionInfo) func(context.Context)
}

// Close ends the session and lets go of its generation. The stages'
// disconnect hooks run in the background, so that the client, which has
// its last reply, does not wait for them to see the connection close;
// the generation is let go of after them, so its stages are not stopped
// under them.
func (lp *livePolicy) Close(info *smtpd.SessionInfo) {
	st, _ := info.State.(*liveState)
	if st == nil {
		return
	}
	var disconnect func(context.Context)
	delegate(info, func(p smtpd.Policy) {
		if e, ok := p.(sessionEnder); ok {
			disconnect = e.end(info)
		} else {
			p.Close(info)
		}
	})
	info.State = nil
	if disconnect == nil {
		lp.release(st.gen)
		return
	}
	select {
	case lp.endSlots <- struct{}{}:
	default:
		// maxBackgroundEnds sessions' hooks are unanswered: this one's
		// run now, before its connection closes and leaves its
		// max_connections slot, so that a slow stage slows new sessions
		// down rather than piling up calls.
		disconnect(lp.endCtx)
		lp.release(st.gen)
		return
	}
	done := make(chan struct{})
	lp.mu.Lock()
	lp.ending[info] = done
	lp.mu.Unlock()
	lp.ends.Add(1)
	go func() {
		defer lp.ends.Done()
		defer func() { <-lp.endSlots }()
		disconnect(lp.endCtx)
		lp.mu.Lock()
		if lp.ending[info] == done {
			delete(lp.ending, info)
		}
		lp.mu.Unlock()
		close(done)
		lp.release(st.gen)
	}()
}

var (
	_ smtpd.Policy     = (*livePolicy)(nil)
	_ smtpd.AuthPolicy = (*livePolicy)(nil)
	_ smtpd.AuthSwitch = (*livePolicy)(nil)
)
