package pipeline

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// A stage with listeners serves the SMTP sessions of those listeners
// only, as Postfix runs the smtpd_milters a master.cf service's -o sets:
// for another listener's session it is not opened (a milter is not
// connected) and is asked none of the session's hooks, connect to
// disconnect, as if it declared none; delay_reject's batches leave it out
// too. Each message's trace says so once, with an entry "skipped" at the
// data hook, in stage order. The deliver and bounce hooks belong to no
// session and ask it as any other stage.

// indexListeners precomputes, per listener named in a stage's list, the
// stages serving it, so that a session finds the stages it skips with one
// map lookup when it opens, and each hook with a bit test.
func (p *Pipeline) indexListeners() {
	for i, e := range p.entries {
		if e.Listeners == nil {
			continue
		}
		p.limited.add(i)
		for _, l := range e.Listeners {
			if p.serves == nil {
				p.serves = map[string]stageSet{}
			}
			set := p.serves[l]
			set.add(i)
			p.serves[l] = set
		}
	}
}

// notFor is the set of stages that do not serve listener's sessions.
func (p *Pipeline) notFor(listener string) stageSet {
	if p.limited.lo == 0 && p.limited.hi == nil {
		return stageSet{}
	}
	return p.limited.minus(p.serves[listener])
}

// minus is the set of s's stages not in o.
func (s stageSet) minus(o stageSet) stageSet {
	out := stageSet{lo: s.lo &^ o.lo}
	for i := range s.hi {
		if !o.hi[i] {
			out.add(i)
		}
	}
	return out
}

// OpenEvery starts a session that every stage serves, whatever its
// listeners: `sluice replay`'s, which is no listener's and shows what
// the whole pipeline does. skip_networks still apply to its client.
func (p *Pipeline) OpenEvery(ctx context.Context, sess sdk.Session) *Session {
	return p.open(ctx, sess, stageSet{})
}
