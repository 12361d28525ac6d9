// Command autoreply is an example Sluice plugin: an out-of-office
// responder (RFC 3834), as vacation(1) or Sieve's vacation (RFC 5230).
// At the data hook, for each envelope recipient that has a responder, it
// answers the sender through the core's Mailer, from the null sender,
// unless the message is automatic, list mail, not addressed to the
// recipient in person, or from a sender answered within the last days.
// It never changes the verdict: an auto-reply never blocks mail.
package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

func main() { sdk.Serve(&Autoreply{}) }

// Autoreply is the plugin.
type Autoreply struct {
	sdk.Base
	// now is the clock, time.Now unless a test sets it before Configure.
	now        func() time.Time
	mailer     sdk.Mailer
	responders map[string]*responder
	state      *replied
}

// Configure checks the responders and loads the record of replies from
// the stage's state directory.
func (p *Autoreply) Configure(_ context.Context, cfg sdk.Config) error {
	if p.now == nil {
		p.now = time.Now
	}
	rs, err := parseConfig(cfg)
	if err != nil {
		return fmt.Errorf("autoreply: %w", err)
	}
	// A dry run (check-config, replay) has no state directory and sends
	// nothing, and must not write the daemon's record.
	p.mailer, p.responders, p.state = cfg.Mailer, rs, loadReplied(cfg.StateDir, rs, p.now())
	return nil
}

// HeadersOnly is true: the rules and the reply need the header alone.
func (p *Autoreply) HeadersOnly() bool { return true }

// Data answers for each recipient with a responder. What it did goes in
// the verdict's reason, which `sluice trace` shows.
func (p *Autoreply) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	if sdk.DryRun() {
		return sdk.Continue(), nil
	}
	var notes []string
	for _, rcpt := range t.Envelope.Rcpts {
		r := p.responders[addrKey(rcpt.Addr)]
		if r == nil {
			continue
		}
		if note := p.answer(ctx, r, t.Envelope.MailFrom, m); note != "" {
			notes = append(notes, note)
		}
	}
	if len(notes) == 0 {
		return sdk.Continue(), nil
	}
	return sdk.Continue().Because("autoreply: " + strings.Join(notes, "; ")), nil
}

// answer sends r's reply to sender unless a rule says not to, and says
// what came of it ("" when r is outside its dates).
func (p *Autoreply) answer(ctx context.Context, r *responder, sender string, m *sdk.Message) string {
	now := p.now()
	if !r.active(now) {
		return ""
	}
	why := senderRule(sender, r.address)
	if why == "" {
		why = headerRule(m)
	}
	if why == "" {
		why = addressedRule(m, r.address)
	}
	if why != "" {
		return "no reply for " + r.address + ": " + why
	}
	key := addrKey(sender)
	if !p.state.claim(r, key, now) {
		return "no reply for " + r.address + ": " + sender + " answered within " + fmt.Sprint(r.days) + " days"
	}
	// RFC 3834 §3.3: from the null sender, so that a reply to the reply
	// (a bounce, another responder) cannot loop back.
	id, err := p.mailer.Send(ctx, sdk.OutgoingMessage{To: []string{sender}, Message: buildReply(r, sender, m, now)})
	if err != nil {
		_ = p.state.done(r, key, now, false)
		sdk.Logger().Warn("autoreply not sent", "responder", r.address, "to", sender, "err", err)
		return "reply for " + r.address + " not sent: " + err.Error()
	}
	if err := p.state.done(r, key, now, true); err != nil {
		sdk.Logger().Warn("autoreply: state not saved", "err", err)
	}
	return "replied for " + r.address + " to " + sender + " (" + id + ")"
}

var (
	_ sdk.DataHook     = (*Autoreply)(nil)
	_ sdk.BodyOptional = (*Autoreply)(nil)
)
