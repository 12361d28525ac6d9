package pipeline

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// Bounce runs the bounce hook over a generated report (raw RFC 5322 bytes)
// addressed from the null sender to rcpts. Stages may edit it; a discard
// or reject suppresses it (drop). Stages that do not declare the hook are
// not called.
func (p *Pipeline) Bounce(ctx context.Context, id string, rcpts []string, raw []byte) (out []byte, drop bool) {
	s := p.Open(ctx, sdk.Session{ID: "bounce-" + id, Listener: "bounce"})
	defer s.Close()
	s.txn.Envelope = sdk.Envelope{QueueID: id}
	for _, r := range rcpts {
		s.txn.Envelope.Rcpts = append(s.txn.Envelope.Rcpts, sdk.Recipient{Addr: r})
	}
	msg := ParseMessage(raw)
	o := s.run(ctx, sdk.HookBounce, nil, msg)
	switch {
	case o.Reply != nil, o.Action == sdk.ActionDiscard:
		return nil, true
	}
	return msg.Bytes(), false
}
