package pipeline

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// AuthConn is implemented by a Conn that can check credentials at the
// auth hook (plugins; milters never see credentials).
type AuthConn interface {
	Auth(ctx context.Context, t *sdk.Txn, a *sdk.AuthArgs) (sdk.Verdict, error)
}

// Declarer is implemented by a Stage that knows which hooks it declared.
type Declarer interface {
	Declares(h sdk.Hook) bool
}

// Declares reports whether any stage declared hook h.
func (p *Pipeline) Declares(h sdk.Hook) bool {
	for _, e := range p.entries {
		if d, ok := e.Stage.(Declarer); ok && d.Declares(h) {
			return true
		}
	}
	return false
}

// DeclaresFor reports whether a stage serving listener's sessions (one
// whose listeners name it, or has none) declared hook h: a listener
// offers AUTH for the auth hooks that can answer its clients, not for
// one limited to another listener, which would leave every AUTH there to
// fail with no user database.
func (p *Pipeline) DeclaresFor(h sdk.Hook, listener string) bool {
	skip := p.notFor(listener)
	for i, e := range p.entries {
		if skip.has(i) {
			continue
		}
		if d, ok := e.Stage.(Declarer); ok && d.Declares(h) {
			return true
		}
	}
	return false
}

// Auth runs the auth hook with the client's credentials: a stage's accept
// authenticates the user, a reject or tempfail refuses, continue leaves it
// to the next stage (and, after the last, to the built-in user database).
func (s *Session) Auth(ctx context.Context, mech, user string, secret []byte) Outcome {
	if s.p.delay {
		// The held connect and helo hooks come first; a refusal of theirs
		// is the reply to RCPT, and the client it refuses gets no say
		// from the stages on its credentials.
		s.flush(ctx, nil)
		if s.sessionRefusal != nil {
			return Outcome{Action: sdk.ActionContinue}
		}
	}
	s.auth = &sdk.AuthArgs{Mech: mech, User: user, Secret: secret}
	defer func() { s.auth = nil }()
	return s.run(ctx, sdk.HookAuth, nil, nil)
}
