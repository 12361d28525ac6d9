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
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

func main() { sdk.Serve(&Autoreply{}) }

// Autoreply is the plugin.
type Autoreply struct {
	sdk.Base
	// now is the clock, time.Now unless a test sets it before Configure.
	now func() time.Time
	// log reports the state file; sdk.Logger() unless a test sets it.
	log        *slog.Logger
	mailer     sdk.Mailer
	responders map[string]*responder
	sep        string // detail_separator
	state      *replied
}

// Configure checks the responders and loads the record of replies from
// the stage's state directory.
func (p *Autoreply) Configure(_ context.Context, cfg sdk.Config) error {
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = sdk.Logger()
	}
	rs, sep, err := parseConfig(cfg)
	if err != nil {
		return fmt.Errorf("autoreply: %w", err)
	}
	// A dry run (check-config, replay) has no state directory and sends
	// nothing, and must not write the daemon's record.
	p.mailer, p.responders, p.sep, p.state = cfg.Mailer, rs, sep, loadReplied(cfg.StateDir, rs, p.now(), p.log)
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
	done := map[*responder]bool{}
	for _, rcpt := range t.Envelope.Rcpts {
		r := p.responderFor(rcpt.Addr)
		// Two recipients of one responder (alice@ and alice+lists@) get
		// one answer, not a second "answered within" note.
		if r == nil || done[r] {
			continue
		}
		done[r] = true
		if note := p.answer(ctx, r, t.Envelope.MailFrom, m); note != "" {
			notes = append(notes, note)
		}
	}
	if len(notes) == 0 {
		return sdk.Continue(), nil
	}
	return sdk.Continue().Because("autoreply: " + strings.Join(notes, "; ")), nil
}

// responderFor is the responder of the envelope recipient rcpt: its
// address's, else, for alice+lists@, alice@'s (RFC 5233: the subaddress
// is the user's mailbox).
func (p *Autoreply) responderFor(rcpt string) *responder {
	k := addrKey(rcpt)
	if r := p.responders[k]; r != nil {
		return r
	}
	if base, ok := baseOf(k, p.sep); ok {
		return p.responders[base]
	}
	return nil
}

// answer sends r's reply to sender unless a rule says not to, and says
// what came of it ("" when r is outside its dates).
func (p *Autoreply) answer(ctx context.Context, r *responder, sender string, m *sdk.Message) string {
	now := p.now()
	if !r.active(now) {
		return ""
	}
	why := senderRule(sender, r, p.sep)
	if why == "" {
		why = headerRule(m)
	}
	if why == "" {
		why = addressedRule(m, r, p.sep)
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
