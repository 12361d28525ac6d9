package sdk

import (
	"context"
	"fmt"
	"math"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/protobuf/proto"
)

// OutcomeHook is told what became of a queued message's recipients, as
// Haraka's delivered, deferred and bounce hooks are: after each delivery
// attempt for the recipients it delivered, deferred or failed, when the
// message expires (max_age) and when an administrator bounces it. It is
// where a plugin feeds a webhook, a suppression list or a CRM.
//
// t carries the message's envelope (MailFrom, QueueID) and its notes as
// queued (t.Session.Notes and t.Notes: what stages set at reception, a
// campaign=... tag at data, say). The call comes after the outcome is
// committed to the queue, in the background: delivery never waits for
// it, and an error is only logged (no on_error). Notifications are at
// most once, best effort: when the core's bounded queue of them is full
// they are dropped (and counted), and a crash or restart loses those not
// yet sent. A plugin that must not lose one keeps its own durable queue
// (Config.StateDir). A Sluice older than this hook refuses to start a
// plugin that declares it.
type OutcomeHook interface {
	Outcome(ctx context.Context, t *Txn, o Outcome) error
}

// OutcomeStatus is what became of one recipient.
type OutcomeStatus string

// The recipient statuses an Outcome reports.
const (
	OutcomeDelivered OutcomeStatus = "delivered" // a server took it (250)
	OutcomeDeferred  OutcomeStatus = "deferred"  // will be tried again (4xx)
	OutcomeFailed    OutcomeStatus = "failed"    // given up: the sender gets a bounce
	// OutcomeDiscarded: counted as delivered, nothing sent (a discard
	// route, a deliver hook's Discard).
	OutcomeDiscarded OutcomeStatus = "discarded"
)

// Outcome is what became of some recipients of a queued message, as
// committed to the queue: those an attempt tried (or deferred untried,
// their destination being in backoff), those that expired, or those an
// administrator bounced.
type Outcome struct {
	// Attempt is the message's delivery attempts so far, this one
	// included.
	Attempt int `json:"attempt"`
	// QueueAge is how long the message has been queued.
	QueueAge time.Duration `json:"queue_age"`
	// MessageID and Subject are the message's header fields of those
	// names, unfolded; "" when it has none. Only these two: the core
	// reads no more of the message for a notification.
	MessageID string `json:"message_id,omitempty"`
	Subject   string `json:"subject,omitempty"`
	// Admin: an administrator bounced the recipients (sluice queue
	// bounce), no attempt did.
	Admin bool               `json:"admin,omitempty"`
	Rcpts []RecipientOutcome `json:"rcpts"`
}

// RecipientOutcome is one recipient's outcome.
type RecipientOutcome struct {
	Addr string `json:"addr"`
	// ORcpt is the original recipient's address (RFC 3461 ORCPT), when
	// the client gave one.
	ORcpt  string        `json:"orcpt,omitempty"`
	Status OutcomeStatus `json:"status"`
	// Expired: failed because the message outlived its queue lifetime.
	Expired bool `json:"expired,omitempty"`
	// Code, Enhanced ("5.1.1") and Text are the reply: the server's, or
	// the one Sluice gave when none answered.
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text,omitempty"`
	// Class sorts a deferral or failure by its reply, as KumoMTA's
	// bounce classification: invalid_recipient, inactive_mailbox,
	// bad_domain, invalid_sender, mailbox_full, message_too_large,
	// spam_block, policy, auth_required, tls, routing, connection,
	// protocol, content, admin (an administrator's bounce) or other;
	// an expired recipient's is its last reply's. "" when delivered or
	// discarded. The set may grow; treat an unknown class as other.
	Class string `json:"class,omitempty"`
	// RemoteMTA is the host that gave the reply; "" when none answered.
	RemoteMTA string `json:"remote_mta,omitempty"`
	// Route is the route the recipient went by; "" the default (MX or
	// the relay).
	Route string `json:"route,omitempty"`
	// Attempts is the recipient's attempts so far.
	Attempts int `json:"attempts"`
}

// Outcome tells the plugin o, about the message t describes. A
// notification: there is no verdict, and the error is the call's.
func (c *Client) Outcome(ctx context.Context, t *Txn, o Outcome) error {
	req, err := outcomeRequest(t, o)
	if err != nil {
		return fmt.Errorf("sdk: outcome hook: %w", err)
	}
	if err := checkFrame("outcome request", req); err != nil {
		return fmt.Errorf("sdk: outcome hook: %w", err)
	}
	if p := c.pool.Load(); p != nil {
		// Encoded by protobuf rather than by hand (encode.go): one call
		// per attempt is not the hot path the hand encoder is for, and
		// the plugin's decoder falls back to proto.Unmarshal for it.
		enc := func(b []byte) ([]byte, error) {
			return appendMessage(b, fFrameHook, func(b []byte) ([]byte, error) {
				return proto.MarshalOptions{}.MarshalAppend(b, req)
			})
		}
		if r, ok, err := p.call(ctx, enc, false, nil); ok {
			_, err = hookAnswer(HookOutcome, r.verdict, err)
			return err
		}
	}
	_, err = c.hookVerdict(ctx, HookOutcome, req)
	return err
}

func outcomeRequest(t *Txn, o Outcome) (*pb.HookRequest, error) {
	if t == nil {
		return nil, fmt.Errorf("nil transaction")
	}
	sess, err := sessionPB(t.Session)
	if err != nil {
		return nil, err
	}
	po, err := outcomePB(o)
	if err != nil {
		return nil, err
	}
	return &pb.HookRequest{Hook: pb.Hook_HOOK_OUTCOME, Session: sess, Envelope: envelopePB(t.Envelope),
		AuthResults: authResultsPB(t.AuthResults), TxnNotes: textParams(t.Notes), Outcome: po}, nil
}

func outcomePB(o Outcome) (*pb.Outcome, error) {
	attempt, err := u32("attempt", o.Attempt)
	if err != nil {
		return nil, err
	}
	p := &pb.Outcome{Attempt: attempt, QueueAgeMillis: uint64(max(o.QueueAge, 0).Milliseconds()),
		MessageId: text(o.MessageID), Subject: text(o.Subject), Admin: o.Admin}
	for _, r := range o.Rcpts {
		code, err := u32("reply code", r.Code)
		if err != nil {
			return nil, err
		}
		n, err := u32("attempts", r.Attempts)
		if err != nil {
			return nil, err
		}
		p.Rcpts = append(p.Rcpts, &pb.RecipientOutcome{Addr: text(r.Addr), Orcpt: text(r.ORcpt),
			Status: text(string(r.Status)), Expired: r.Expired, Code: code, Enhanced: text(r.Enhanced),
			Text: text(r.Text), RemoteMta: text(r.RemoteMTA), Route: text(r.Route), Attempts: n,
			BounceClass: text(r.Class)})
	}
	return p, nil
}

func outcomeFromPB(p *pb.Outcome) Outcome {
	age := time.Duration(math.MaxInt64)
	if ms := p.GetQueueAgeMillis(); ms < uint64(math.MaxInt64/int64(time.Millisecond)) {
		age = time.Duration(ms) * time.Millisecond
	}
	o := Outcome{Attempt: int(p.GetAttempt()), QueueAge: age, MessageID: p.GetMessageId(),
		Subject: p.GetSubject(), Admin: p.GetAdmin()}
	for _, r := range p.GetRcpts() {
		o.Rcpts = append(o.Rcpts, RecipientOutcome{Addr: r.GetAddr(), ORcpt: r.GetOrcpt(),
			Status: OutcomeStatus(r.GetStatus()), Expired: r.GetExpired(), Code: int(r.GetCode()),
			Enhanced: r.GetEnhanced(), Text: r.GetText(), RemoteMTA: r.GetRemoteMta(), Route: r.GetRoute(),
			Attempts: int(r.GetAttempts()), Class: r.GetBounceClass()})
	}
	return o
}
