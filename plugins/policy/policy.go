// Package policy is the first-party plugin that asks a Postfix SMTP
// access policy server (SMTPD_POLICY_README, check_policy_service):
// postgrey, postfix-policyd-spf-python, postfwd, policyd-rate-limit,
// policyd-weight, sqlgrey, and the scripts sites wrote for Postfix,
// unchanged.
//
//	[[stage]]
//	name   = "postgrey"
//	plugin = "policy"
//	[stage.config]
//	server = "inet:127.0.0.1:10023"   # or "unix:/run/postgrey.sock"
//	hooks  = ["rcpt"]                 # connect, helo, mail, rcpt, data, end-of-data
//
// At each hook of hooks the stage sends the request Postfix's smtpd
// sends (request.go: name=value lines, an empty line after them) and
// reads the one attribute of the answer, action=, which it takes as
// Postfix takes an access(5) action (action.go). Connections are kept
// and used again, one request at a time each (client.go). A server that
// cannot be reached, or answers nothing usable, is tried again
// (try_limit), then default_action answers for it.
package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// Plugin is the policy stage.
type Plugin struct {
	sdk.Base

	// now is the clock of the connections' ages; nil means time.Now.
	// Tests set it to age them without sleeping.
	now func() time.Time
	// log is where the answers that are logged go; nil means
	// sdk.Logger().
	log *slog.Logger

	set  settings
	pool *pool
	recs *records

	// afterFunc runs f after d, as time.AfterFunc; nil means that. Tests
	// run the sweeps it is given on their own clock.
	afterFunc func(d time.Duration, f func())

	sweepMu  sync.Mutex
	sweepDue bool
}

// Describe names the plugin for the pipeline status.
func (p *Plugin) Describe() (string, string) { return "policy", "1" }

// Configure checks the config.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	var cfg Config
	if err := c.Decode(&cfg); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	set, err := compile(cfg)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = sdk.Logger()
	}
	if p.pool != nil {
		p.pool.closeAll()
	}
	p.set = set
	p.pool = newPool(&p.set, p.now)
	p.recs = newRecords(p.now)
	return nil
}

// DeclaresHook declares the hooks of hooks; data always, where the
// PREPEND, REDIRECT and BCC answered before it are made, and disconnect,
// where a session's record ends.
func (p *Plugin) DeclaresHook(h sdk.Hook) bool {
	switch h {
	case sdk.HookConnect:
		return p.set.states[stateConnect]
	case sdk.HookHelo:
		return p.set.states[stateHelo]
	case sdk.HookMail:
		return p.set.states[stateMail]
	case sdk.HookRcpt:
		return p.set.states[stateRcpt]
	}
	return true
}

// HeadersOnly: no request carries the body; the size comes without it.
func (p *Plugin) HeadersOnly() bool { return true }

// Connect asks at CONNECT.
func (p *Plugin) Connect(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.hook(ctx, t, query{state: stateConnect}), nil
}

// Helo asks at EHLO.
func (p *Plugin) Helo(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.hook(ctx, t, query{state: stateHelo}), nil
}

// Mail asks at MAIL.
func (p *Plugin) Mail(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.hook(ctx, t, query{state: stateMail}), nil
}

// Rcpt asks at RCPT about r.
func (p *Plugin) Rcpt(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	return p.hook(ctx, t, query{state: stateRcpt, rcpt: r.Addr}), nil
}

// hook asks the server at q's state, unless t's client is spared, and
// keeps what acts on the message for the data hook.
func (p *Plugin) hook(ctx context.Context, t *sdk.Txn, q query) sdk.Verdict {
	if why := p.skip(t); why != "" {
		return sdk.Continue().Because(why)
	}
	o := p.ask(ctx, t, q)
	p.recs.keep(&t.Session, q.state, o)
	return o.verdict
}

// Data asks at DATA and END-OF-MESSAGE, as hooks has it (Sluice has no
// hook at the DATA command: both are asked once the message is in), and
// makes the PREPEND, REDIRECT and BCC answered at this message's hooks.
// A refusal ends it; otherwise a DISCARD goes before a HOLD. An OK goes
// on: the stages after this one at the data hook are content checks
// and signers, Postfix's milters and cleanup, which an OK of its
// smtpd_end_of_data_restrictions does not skip either.
func (p *Plugin) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	acts := p.recs.take(&t.Session)
	var reasons []string
	if !acts.empty() {
		reasons = append(reasons, "policy: answered before data: "+describe(acts))
	}
	v := sdk.Continue()
	if why := p.skip(t); why == "" {
		for _, st := range []string{stateData, stateEOM} {
			if !p.set.states[st] {
				continue
			}
			q := query{state: st}
			if st == stateEOM {
				q.size = messageSize(m)
			}
			o := p.ask(ctx, t, q)
			reasons = append(reasons, o.verdict.Reason)
			switch o.verdict.Action {
			case sdk.ActionReject, sdk.ActionTempfail:
				return o.verdict, nil
			}
			if rank(o.verdict.Action) > rank(v.Action) {
				v.Action = o.verdict.Action
			}
			acts.add(o)
		}
	}
	v.Edits = acts.edits(t)
	return v.Because(strings.Join(reasons, "; ")), nil
}

// rank orders what the data hook's answers decide.
func rank(a sdk.Action) int {
	switch a {
	case sdk.ActionDiscard:
		return 2
	case sdk.ActionQuarantine:
		return 1
	}
	return 0
}

// Disconnect forgets the session.
func (p *Plugin) Disconnect(_ context.Context, s sdk.Session) error {
	p.recs.end(s.ID)
	return nil
}

// skip says why t's client is not asked about, or "".
func (p *Plugin) skip(t *sdk.Txn) string {
	switch {
	case p.set.skipAuth && t.Session.AuthUser != "":
		return "policy: authenticated client, not asked (skip_authenticated)"
	case p.set.skipRelay && t.Session.RelayClient:
		return "policy: client in relay_networks, not asked (skip_relay_clients)"
	}
	return ""
}

// ask sends q's request and decides by the answer, or by default_action
// when there is none to be had.
func (p *Plugin) ask(ctx context.Context, t *sdk.Txn, q query) outcome {
	value, err := p.request(ctx, t.Session.ID, p.encode(t, q))
	why := ""
	if err != nil {
		p.log.Warn("policy: no answer, default_action applies", "server", p.set.server, "state", q.state,
			"session", t.Session.ID, "err", err, "default_action", p.set.defaultAction)
		value, why = p.set.defaultAction, " (default_action: "+err.Error()+")"
	}
	o := decide(value, t, q)
	for _, l := range []struct {
		level slog.Level
		msg   string
	}{{slog.LevelInfo, o.info}, {slog.LevelWarn, o.warn}} {
		if l.msg != "" {
			p.log.Log(context.Background(), l.level, "policy: "+l.msg, "server", p.set.server, "state", q.state, "session", t.Session.ID,
				"client", t.Session.ClientIP, "from", t.Envelope.MailFrom, "rcpt", q.rcpt, "action", value)
		}
	}
	reason := fmt.Sprintf("policy %s at %s: action=%s%s", p.set.server, q.state, value, why)
	if o.warn != "" {
		reason += " (" + o.warn + ")"
	}
	o.verdict = o.verdict.Because(reason)
	return o
}

// request sends req, on the connection session id's last request went
// on when it is idle, and returns the answer's action: try_limit tries,
// retry_delay apart, each within timeout, and all of them a little
// before ctx's deadline, so that default_action answers before the
// stage's timeout ends the call (and its on_error would); a stage
// timeout shorter than Budget.StageTimeout cuts the last tries short,
// which check-config warns of. A kept
// connection the server closed without answering costs no try, as one
// found closed before the request does: the request goes again at once
// on another, once.
func (p *Plugin) request(ctx context.Context, id string, req []byte) (string, error) {
	end, bounded := ctx.Deadline()
	if bounded {
		end = end.Add(-reserve(time.Until(end)))
	}
	var err error
	again := true // the one try again that a kept connection may cost
	for try := 1; ; try++ {
		deadline := time.Now().Add(p.set.timeout)
		if bounded && end.Before(deadline) {
			deadline = end
		}
		if !time.Now().Before(deadline) {
			return "", fmt.Errorf("no time left for the request (the stage's timeout): %w", orNil(err))
		}
		var c *conn
		if c, err = p.pool.get(ctx, p.recs.conn(id), deadline); err == nil {
			kept := c.requests > 0
			var action string
			action, err = c.ask(req, deadline)
			p.pool.put(c, err == nil)
			p.armSweep(p.set.maxIdle)
			if err == nil {
				p.recs.used(id, c)
				return action, nil
			}
			if ue := (*unansweredError)(nil); kept && again && errors.As(err, &ue) {
				again = false
				try--
				continue
			}
		}
		if try >= p.set.tryLimit {
			return "", fmt.Errorf("%d tries, the last: %w", try, err)
		}
		p.log.Warn("policy: problem talking to server", "server", p.set.server, "try", try, "err", err)
		if bounded && time.Until(end) <= p.set.retryDelay {
			return "", fmt.Errorf("no time left to try again (the stage's timeout): %w", err)
		}
		if p.set.retryDelay > 0 {
			wait := time.NewTimer(p.set.retryDelay)
			select {
			case <-wait.C:
			case <-ctx.Done():
				wait.Stop()
				return "", fmt.Errorf("%w, after: %w", ctx.Err(), err)
			}
		}
	}
}

// orNil is err, or a word for none yet.
func orNil(err error) error {
	if err == nil {
		return fmt.Errorf("before any try")
	}
	return err
}

// armSweep has the idle connections past max_idle or max_ttl closed when
// no request comes to find them: a sweep after d, and after it another
// when the first of those still idle is due, until none is left.
func (p *Plugin) armSweep(d time.Duration) {
	p.sweepMu.Lock()
	defer p.sweepMu.Unlock()
	if p.sweepDue {
		return
	}
	p.sweepDue = true
	after := p.afterFunc
	if after == nil {
		after = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	pl := p.pool
	after(d, func() {
		next := pl.sweep()
		p.sweepMu.Lock()
		p.sweepDue = false
		p.sweepMu.Unlock()
		if next > 0 {
			p.armSweep(next)
		}
	})
}

// messageSize is m's size as the stage sees it, header and body: the
// size Postfix sends at END-OF-MESSAGE.
func messageSize(m *sdk.Message) int64 {
	n := m.BodySize + 2 // the empty line
	for _, h := range m.Headers {
		if h.Raw != nil {
			n += int64(len(h.Raw)) + 2
		} else {
			n += int64(len(h.Name)+len(": ")+len(h.Value)) + 2
		}
	}
	return n
}

// describe says what a holds, for the trace.
func describe(a actions) string {
	var parts []string
	for _, h := range a.prepend {
		parts = append(parts, "PREPEND "+h.Name+": "+h.Value)
	}
	if a.redirect != "" {
		parts = append(parts, "REDIRECT "+a.redirect)
	}
	for _, b := range a.bcc {
		parts = append(parts, "BCC "+b)
	}
	return strings.Join(parts, ", ")
}

// Interface guards.
var (
	_ sdk.ConnectHook    = (*Plugin)(nil)
	_ sdk.HeloHook       = (*Plugin)(nil)
	_ sdk.MailHook       = (*Plugin)(nil)
	_ sdk.RcptHook       = (*Plugin)(nil)
	_ sdk.DataHook       = (*Plugin)(nil)
	_ sdk.DisconnectHook = (*Plugin)(nil)
	_ sdk.HookChooser    = (*Plugin)(nil)
	_ sdk.BodyOptional   = (*Plugin)(nil)
	_ sdk.Describer      = (*Plugin)(nil)
)
