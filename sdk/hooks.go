package sdk

import (
	"context"
	"fmt"
)

// Plugin is what Serve runs. Embed Base to get a no-op Configure, then
// implement the hook interfaces you want.
type Plugin interface {
	// Configure receives the stage's name and its [stage.config] table
	// (decode it with cfg.Decode). It runs once, before any hook.
	Configure(ctx context.Context, cfg Config) error
}

// Base is the embeddable no-op plugin.
type Base struct{}

// Configure refuses every [stage.config] key: a plugin without a
// Configure of its own reads none, so a key there is a mistake (a typo'd
// table, a config meant for another plugin) that would otherwise pass
// silently, where any other unknown key stops Sluice at its line.
func (Base) Configure(_ context.Context, cfg Config) error {
	var none struct{}
	if err := cfg.Decode(&none); err != nil {
		return fmt.Errorf("%w (this plugin takes no [stage.config])", err)
	}
	return nil
}

// ConnectHook is called when a client connects.
type ConnectHook interface {
	Connect(ctx context.Context, t *Txn) (Verdict, error)
}

// HeloHook is called on HELO/EHLO; t.Session.Helo is set.
type HeloHook interface {
	Helo(ctx context.Context, t *Txn) (Verdict, error)
}

// AuthHook is called on AUTH with the credentials; Accept authenticates
// the user, Reject refuses, Continue leaves it to the next stage or the
// built-in user database.
type AuthHook interface {
	Auth(ctx context.Context, t *Txn, mech, user string, secret []byte) (Verdict, error)
}

// MailHook is called on MAIL FROM; t.Envelope.MailFrom is set.
type MailHook interface {
	Mail(ctx context.Context, t *Txn) (Verdict, error)
}

// RcptHook is called for each RCPT TO with the candidate recipient (not yet
// in t.Envelope.Rcpts). Reject refuses that recipient only; a SetRoute edit
// routes it.
type RcptHook interface {
	Rcpt(ctx context.Context, t *Txn, rcpt Recipient) (Verdict, error)
}

// DataHook is called once per message at the end of DATA/BDAT with the
// message as earlier stages left it.
type DataHook interface {
	Data(ctx context.Context, t *Txn, m *Message) (Verdict, error)
}

// DeliverHook is called per recipient after routing, before delivery,
// at each attempt. A SetRoute edit for rcpt changes the route it goes by
// when that route is this stage's own (set at an earlier hook or attempt)
// or no stage's; a route another stage set stays (rcpt.RouteSetByOther
// says so). Other edits are ignored.
type DeliverHook interface {
	Deliver(ctx context.Context, t *Txn, rcpt Recipient) (Verdict, error)
}

// BounceHook is called with a generated report (a bounce, an RFC 3464
// DSN, from the null sender: t.Envelope.MailFrom is "") or a plugin's
// message (Mailer; t.Envelope.MailFrom is its OutgoingMessage.From)
// before it is queued; it may edit its header and body, route its
// recipient (SetRoute) and replace it: a RemoveRecipient of it with an
// AddRecipient of another address, in the same verdict, one for one
// (recipient edits that would leave the report more or fewer recipients
// are refused together, and the new one goes without DSN parameters:
// nothing is ever reported on a report). The sender stays as it is.
// Reject or Discard drops the report; Quarantine queues it in state
// quarantined, the later stages still asked (their Reject or Discard
// drops it); Tempfail cannot defer it, so it is queued as generated,
// without the edits of any stage. A failing call (an error, a timeout, a
// panic, a dead plugin) never loses a report: with on_error continue the
// next stage is asked, otherwise the report is queued as generated.
type BounceHook interface {
	Bounce(ctx context.Context, t *Txn, m *Message) (Verdict, error)
}

// DisconnectHook is called once when an SMTP session has ended (QUIT, a
// closed or dropped connection, a refusal at connect, XCLIENT naming
// another client), after the client had its last reply, with the session
// as it ended: s.Transaction is its last transaction's number. It is
// where a plugin frees what it kept of the session by s.ID. It is called
// only when the plugin was asked another hook of the session, and never
// for deliver or bounce, which belong to no SMTP session. The core does
// not wait for it to answer the client, and an error is only logged: no
// on_error applies. A plugin restarted during a session is asked it for a
// session it never saw. A Sluice older than this hook refuses to start a
// plugin that declares it.
type DisconnectHook interface {
	Disconnect(ctx context.Context, s Session) error
}

// BodyOptional is implemented by a DataHook plugin that only reads headers:
// when HeadersOnly returns true the body is not streamed to it.
type BodyOptional interface {
	HeadersOnly() bool
}

// HookChooser is implemented by a plugin whose configuration decides
// whether a hook it implements has anything to do: after Configure, a
// hook of HooksOf is declared only when DeclaresHook(hook) is true, and
// the core never asks a hook that is not declared, sparing the round
// trip. The filter so declares DisconnectHook only when a rule keeps
// something of a session.
type HookChooser interface {
	DeclaresHook(h Hook) bool
}

// HooksOf returns the hooks p implements, in order.
func HooksOf(p Plugin) []Hook {
	var hs []Hook
	if _, ok := p.(ConnectHook); ok {
		hs = append(hs, HookConnect)
	}
	if _, ok := p.(HeloHook); ok {
		hs = append(hs, HookHelo)
	}
	if _, ok := p.(AuthHook); ok {
		hs = append(hs, HookAuth)
	}
	if _, ok := p.(MailHook); ok {
		hs = append(hs, HookMail)
	}
	if _, ok := p.(RcptHook); ok {
		hs = append(hs, HookRcpt)
	}
	if _, ok := p.(DataHook); ok {
		hs = append(hs, HookData)
	}
	if _, ok := p.(DeliverHook); ok {
		hs = append(hs, HookDeliver)
	}
	if _, ok := p.(BounceHook); ok {
		hs = append(hs, HookBounce)
	}
	if _, ok := p.(DisconnectHook); ok {
		hs = append(hs, HookDisconnect)
	}
	if _, ok := p.(OutcomeHook); ok {
		hs = append(hs, HookOutcome)
	}
	return hs
}
