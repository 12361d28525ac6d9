// Package verify is the first-party recipient verification plugin:
// Postfix's reject_unverified_recipient (verify(8)) and Haraka's rcpt_to
// back ends. A gateway in front of a mailbox server (Exchange, Dovecot,
// another MTA) asks that server at RCPT whether it would take the
// recipient, and refuses at once what it would refuse, rather than take
// the mail and bounce it later (backscatter).
//
//	[[stage]]
//	name   = "verify"
//	plugin = "verify"
//	[stage.config]
//	next_hop = "[exchange.example.org]:25"   # or "lmtp:tcp:10.0.0.5:24", "smtp:[h]:25?tls=verify"
//	domains  = ["example.org"]               # only these recipients are asked about
//	reject_code = 550                         # Postfix's default is 450
//
// The probe connects, says EHLO (LHLO), STARTTLS when offered (as
// delivery does: see delivery.Probe), MAIL FROM the sender, RCPT TO the
// recipient, then RSET and QUIT: never DATA. 250 or 251 lets the
// recipient through, a 5xx refuses it (reject_code, 5.1.1 or 4.1.1 as the
// code's class, a text that names no server; the server's reply goes to
// the trace and the log), anything else (no connection, a timeout, a 4xx,
// a refused MAIL FROM) leaves it unverified: 450 4.1.1, or through with
// tempfail_action = "accept".
//
// Results are kept, as verify(8) keeps them (cache.go): a deliverable
// address 31 days, asked again after 7, an undeliverable one 3 days,
// asked again after 3 hours; in memory, bounded (max_entries, the least
// recently used first), and in the stage's state directory (store.go),
// so a restart asks nothing again. An address that could not be
// verified keeps that answer for tempfail_refresh_time
// (negative_refresh_time, 3 hours, by default), in memory only and
// under a max_entries of its own, so that such answers push out no
// known one. The RCPTs for an address whose probe is under way wait for
// that probe (flight.go).
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// EnvHostname is where the core hands plugins its configured hostname,
// the default EHLO name and sender domain of the probes.
const EnvHostname = "SLUICE_HOSTNAME"

// Plugin is the verify stage.
type Plugin struct {
	sdk.Base

	// now is the clock; nil means time.Now. Tests set it to move time
	// without sleeping.
	now func() time.Time
	// log is where probes are reported; nil means sdk.Logger().
	log *slog.Logger
	// probe asks the next hop; nil means delivery.ProbeWith.
	probe func(ctx context.Context, route, rcpt string, o delivery.ProbeOptions) error
	// waiting, when set, is called as a RCPT starts waiting for a probe
	// (tests count them); queued as one waits for max_probes' room.
	waiting, queued func(addr string)

	set     settings
	cache   *cache
	flights flights
	// slots holds a token for each probe under way, max_probes of them
	// (nil: no cap).
	slots chan struct{}
}

// Describe names the plugin for the pipeline status.
func (p *Plugin) Describe() (string, string) { return "verify", "1" }

// Configure checks the config and loads the results the state
// directory keeps.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	var cfg Config
	if err := c.Decode(&cfg); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	host := os.Getenv(EnvHostname)
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "localhost"
	}
	set, err := compile(cfg, host)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = sdk.Logger()
	}
	if p.probe == nil {
		p.probe = delivery.ProbeWith
	}
	if p.cache != nil {
		_ = p.cache.close()
	}
	p.set = set
	p.cache = newCache(&p.set, p.log)
	if set.maxProbes > 0 {
		p.slots = make(chan struct{}, set.maxProbes)
	}
	if c.StateDir == "" {
		return nil // check-config, replay, a core without plugin state
	}
	st, recs, err := openStore(c.StateDir, set.hop, sdk.DryRun(), p.log)
	if err != nil {
		return err
	}
	p.cache.attach(st, recs, p.now())
	return nil
}

// Rcpt lets a recipient through that the next hop takes, and refuses one
// it refuses.
func (p *Plugin) Rcpt(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	s := &p.set
	switch {
	case s.skipAuth && t.Session.AuthUser != "":
		return sdk.Continue(), nil
	case s.skipRelay && t.Session.RelayClient:
		return sdk.Continue(), nil
	}
	at := strings.LastIndexByte(r.Addr, '@')
	if at < 0 {
		return sdk.Continue(), nil // <postmaster>: this host's own
	}
	domain := envelope.SiteDomain(r.Addr[at+1:])
	if !s.probes(domain) {
		return sdk.Continue(), nil
	}
	if strings.EqualFold(r.Addr[:at], "postmaster") {
		// RFC 5321 §4.5.1: postmaster at every domain is taken, as the
		// route plugin takes it; what the next hop says cannot change that.
		return sdk.Continue().Because("verify: postmaster is not asked about (RFC 5321 §4.5.1)"), nil
	}
	// The domain compares without case (RFC 5321 §2.4), the local part
	// as written: the next hop decides what its users' names mean.
	key := r.Addr[:at] + "@" + domain
	ans, ok := p.cache.lookup(key, p.now())
	if !ok {
		f, err := p.flight(ctx, key, r.Addr)
		if err != nil {
			return sdk.Verdict{}, err
		}
		if p.waiting != nil {
			p.waiting(r.Addr)
		}
		select {
		case <-f.done:
			ans = f.ans
		case <-ctx.Done():
			return sdk.Verdict{}, ctx.Err()
		}
	}
	return p.verdict(r.Addr, ans), nil
}

// flight returns key's probe under way, or starts one once fewer than
// max_probes are: each RCPT of a new address would otherwise open a
// connection to the next hop, as many at once as there are sessions
// (1000 by default), which a mailbox server refuses past its own limit
// (Exchange: 20 a client) with 421, delivery's connections too.
// Postfix's probes are deliveries, under its destination concurrency.
// An RCPT that gives up waiting starts no probe.
func (p *Plugin) flight(ctx context.Context, key, addr string) (*flight, error) {
	if p.slots == nil {
		f, _ := p.flights.do(key, func() answer { return p.check(key, addr) })
		return f, nil
	}
	if f := p.flights.get(key); f != nil {
		return f, nil
	}
	select {
	case p.slots <- struct{}{}:
	default:
		if p.queued != nil {
			p.queued(addr)
		}
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f, started := p.flights.do(key, func() answer {
		defer func() { <-p.slots }()
		return p.check(key, addr)
	})
	if !started {
		<-p.slots
	}
	return f, nil
}

// check probes addr, unless a probe that ended since the caller looked
// has answered already, and keeps the result.
func (p *Plugin) check(key, addr string) answer {
	if a, ok := p.cache.lookup(key, p.now()); ok {
		return a
	}
	s := &p.set
	start := time.Now()
	err := p.probe(context.Background(), s.hop, addr, delivery.ProbeOptions{Helo: s.helo, From: s.sender, Timeout: s.timeout})
	found := answer{status: deliverable}
	var pe *delivery.ProbeError
	switch {
	case errors.As(err, &pe) && pe.Permanent():
		found = answer{status: undeliverable, reply: pe.Error()}
	case err != nil:
		found = answer{status: unverified, reply: err.Error()}
	}
	a := p.cache.record(key, found, p.now())
	args := []any{"rcpt", addr, "next_hop", s.hopName, "result", found.status.String(), "took", time.Since(start).Round(time.Millisecond).String()}
	if found.reply != "" {
		args = append(args, "reply", found.reply)
	}
	if a.cached {
		args = append(args, "kept", a.status.String())
	}
	p.log.Info("verify: probed", args...)
	return a
}

// verdict is the stage's answer for addr. The client is told nothing of
// the next hop (its name, its words): the trace and the log are.
func (p *Plugin) verdict(addr string, a answer) sdk.Verdict {
	s := &p.set
	from := "asked " + s.hopName
	if a.cached {
		from = fmt.Sprintf("%s's answer of %s ago%s", s.hopName, a.age.Round(time.Second), a.note)
	}
	switch a.status {
	case deliverable:
		return sdk.Continue().Because(fmt.Sprintf("verify: <%s> deliverable (%s)", addr, from))
	case undeliverable:
		// RFC 3463 X.1.1: bad destination mailbox address, in the class
		// of the code (Postfix's unverified_recipient_reject_code).
		text := fmt.Sprintf("<%s>: Recipient address rejected: undeliverable address: refused by the next mail server", addr)
		why := fmt.Sprintf("verify: <%s> undeliverable: %s (%s)", addr, a.reply, from)
		if s.rejectCode >= 500 {
			return sdk.Reject(s.rejectCode, "5.1.1", text).Because(why)
		}
		return sdk.Tempfail(s.rejectCode, "4.1.1", text).Because(why)
	}
	why := fmt.Sprintf("verify: <%s> unverified: %s (%s)", addr, a.reply, from)
	if s.acceptUnknown {
		return sdk.Continue().Because(why + " (tempfail_action = accept)")
	}
	// Postfix's unverified_recipient_defer_code, 450 4.1.1, for the
	// probe's deferral and for the RCPTs its kept answer serves alike.
	text := fmt.Sprintf("<%s>: Recipient address rejected: unverified address: address verification failed, try again later", addr)
	return sdk.Tempfail(450, "4.1.1", text).Because(why)
}

// Interface guards.
var (
	_ sdk.RcptHook  = (*Plugin)(nil)
	_ sdk.Describer = (*Plugin)(nil)
)
