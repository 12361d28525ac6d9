package pipeline

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// Deliver runs the deliver hook for one recipient of a queued message, as
// delivery is about to send it (after routing; rcpt.Route is the route it
// goes by). Only the stages that declared the hook are opened and asked,
// in order, with their timeout and on_error: continue asks the next,
// accept skips the rest; reject and tempfail fail or defer the recipient
// with their reply; discard drops it unsent and quarantine sets the
// message aside (the outcome's Action says which). Edits are not applied:
// at deliver there is no message to edit.
func (p *Pipeline) Deliver(ctx context.Context, env sdk.Envelope, rcpt sdk.Recipient) Outcome {
	if !p.Declares(sdk.HookDeliver) {
		return Outcome{Action: sdk.ActionContinue}
	}
	s := p.open(ctx, sdk.Session{ID: "deliver-" + env.QueueID, Listener: "deliver"}, sdk.HookDeliver)
	defer s.Close()
	s.txn.Envelope = env
	return s.run(ctx, sdk.HookDeliver, &rcpt, nil)
}

// idleConn stands for a stage that is not asked: it wants no hook.
type idleConn struct{}

func (idleConn) Wants(sdk.Hook) bool { return false }
func (idleConn) NeedsBody() bool     { return false }
func (idleConn) Hook(context.Context, sdk.Hook, *sdk.Txn, *sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}
func (idleConn) Data(context.Context, sdk.Hook, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}
func (idleConn) Reset(context.Context) {}
func (idleConn) Close() error          { return nil }

var _ Conn = idleConn{}
