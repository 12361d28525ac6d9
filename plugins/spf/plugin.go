package spf

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// Config is the stage's [stage.config].
type Config struct {
	// The action per result: reject, tempfail, quarantine, tag or continue.
	Fail      string `json:"fail"`
	Softfail  string `json:"softfail"`
	Neutral   string `json:"neutral"`
	None      string `json:"none"`
	Pass      string `json:"pass"`
	Temperror string `json:"temperror"`
	Permerror string `json:"permerror"`
	// ReceivedSPF adds a Received-SPF header field (RFC 7208 §9.1) at the
	// data hook for every checked message (default true).
	ReceivedSPF *bool `json:"received_spf"`
	// CheckHelo also checks the HELO identity when MAIL FROM is not null
	// (RFC 7208 §2.3); a HELO fail then gets the fail action.
	CheckHelo bool `json:"check_helo"`
	// SkipNetworks are client networks not checked (default loopback).
	SkipNetworks []string `json:"skip_networks"`
	// SkipAuthenticated skips clients that authenticated (default true):
	// SPF says nothing about submission.
	SkipAuthenticated *bool `json:"skip_authenticated"`
	// SkipRelayClients skips clients in the core's relay_networks
	// (default true): the site's own hosts, which Postfix's
	// permit_mynetworks lets through before any policy service.
	SkipRelayClients *bool `json:"skip_relay_clients"`
	// Hostname names this receiver in %{r} and Received-SPF (default the
	// core's configured hostname, which Authentication-Results names too;
	// the machine's host name when the core did not say).
	Hostname string `json:"hostname"`
	// Explanation is the macro-string explaining a fail when the domain
	// has no exp= (default DefaultExplanation).
	Explanation string `json:"explanation"`
}

// EnvHostname is the environment variable in which the core hands its
// configured hostname to plugin processes: the name Received and
// Authentication-Results carry, which Received-SPF's receiver= and the
// %{r} macro (RFC 7208 §9.1, §7.3) must agree with.
const EnvHostname = "SLUICE_HOSTNAME"

// action is what the stage does with a result.
type action string

const (
	actReject     action = "reject"
	actTempfail   action = "tempfail"
	actQuarantine action = "quarantine" // at the data hook
	actTag        action = "tag"        // continue; Received-SPF even when received_spf is false
	actContinue   action = "continue"
)

// maxPending bounds the mail-hook results kept for the data hook, so that
// sessions that never reach DATA cannot grow the map without end.
const maxPending = 10000

// Plugin is the SPF stage: it checks at MAIL FROM and stamps Received-SPF
// at DATA.
type Plugin struct {
	sdk.Base
	// Resolver answers the DNS; nil means the core's servers
	// (dnsresolve.FromEnv) at Configure.
	Resolver Resolver

	cfg     Config
	actions map[Result]action
	skip    []netip.Prefix
	checker *Checker

	mu      sync.Mutex
	seq     uint64
	pending map[string]pendingTxn // by session ID: one transaction at a time
	order   []pendingKey          // insertion order, for eviction
}

type pendingTxn struct {
	seq     uint64
	headers []string // Received-SPF values
	action  action   // quarantine is applied at data
	reason  string
}

type pendingKey struct {
	session string
	seq     uint64
}

// Configure reads the config; an unknown key or action is an error.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	p.cfg = Config{
		Fail: string(actReject), Softfail: string(actTag), Neutral: string(actContinue),
		None: string(actContinue), Pass: string(actContinue),
		Temperror: string(actTempfail), Permerror: string(actContinue),
		SkipNetworks: []string{"127.0.0.0/8", "::1/128"},
	}
	if err := c.Decode(&p.cfg); err != nil {
		return err
	}
	p.actions = map[Result]action{}
	for res, name := range map[Result]string{
		Fail: p.cfg.Fail, Softfail: p.cfg.Softfail, Neutral: p.cfg.Neutral, None: p.cfg.None,
		Pass: p.cfg.Pass, TempError: p.cfg.Temperror, PermError: p.cfg.Permerror,
	} {
		switch a := action(name); a {
		case actReject, actTempfail, actQuarantine, actTag, actContinue:
			p.actions[res] = a
		default:
			return fmt.Errorf("spf: %s = %q: want reject, tempfail, quarantine, tag or continue", res, name)
		}
	}
	skip, err := netlist.Prefixes(p.cfg.SkipNetworks)
	if err != nil {
		return fmt.Errorf("spf: skip_networks: %w", err)
	}
	p.skip = skip
	if p.cfg.Explanation != "" {
		if _, err := parseMacroString(p.cfg.Explanation, true); err != nil {
			return fmt.Errorf("spf: explanation: %v", err)
		}
	}
	if p.cfg.Hostname == "" {
		p.cfg.Hostname = os.Getenv(EnvHostname)
	}
	if p.cfg.Hostname == "" {
		p.cfg.Hostname, _ = os.Hostname()
	}
	if p.Resolver == nil {
		r, err := dnsresolve.FromEnv()
		if err != nil {
			return fmt.Errorf("spf: %w", err)
		}
		p.Resolver = r
	}
	p.checker = &Checker{Resolver: p.Resolver, Receiver: p.cfg.Hostname, Explanation: p.cfg.Explanation}
	p.pending = map[string]pendingTxn{}
	p.order = nil
	return nil
}

// HeadersOnly: the data hook only adds a header field.
func (p *Plugin) HeadersOnly() bool { return true }

// identity is one checked identity (RFC 7208 §2.3, §2.4).
type identity struct {
	name   string // "mailfrom" or "helo"
	sender string // MAIL FROM, or "" for a HELO check
	domain string
}

// check is one identity's outcome.
type check struct {
	id  identity
	out Outcome
}

// Mail checks the MAIL FROM identity, or the HELO identity for a null
// sender (RFC 7208 §2.4), and the HELO identity too with check_helo.
func (p *Plugin) Mail(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	// A new transaction: what an earlier one that never reached DATA left
	// for the data hook is not this one's. The core does not tell plugins
	// of RSET, and a client that authenticates after a refused RCPT is
	// skipped below, so its submission got the stranger's Received-SPF,
	// and a quarantine, of the transaction before.
	p.forget(t.Session.ID)
	ip, err := netip.ParseAddr(t.Session.ClientIP)
	if err != nil {
		return sdk.Continue().Because("spf: no client IP"), nil
	}
	ip = ip.Unmap()
	if netlist.Contains(p.skip, ip) {
		return sdk.Continue().Because("spf: client in skip_networks"), nil
	}
	if t.Session.AuthUser != "" && (p.cfg.SkipAuthenticated == nil || *p.cfg.SkipAuthenticated) {
		return sdk.Continue().Because("spf: authenticated client"), nil
	}
	if t.Session.RelayClient && (p.cfg.SkipRelayClients == nil || *p.cfg.SkipRelayClients) {
		return sdk.Continue().Because("spf: client in relay_networks"), nil
	}
	helo := t.Session.Helo
	from := t.Envelope.MailFrom
	var ids []identity
	at := strings.LastIndexByte(from, '@')
	if from == "" || at < 0 {
		ids = append(ids, identity{name: "helo", domain: helo})
	} else {
		if p.cfg.CheckHelo && helo != "" {
			ids = append(ids, identity{name: "helo", domain: helo})
		}
		ids = append(ids, identity{name: "mailfrom", sender: from, domain: from[at+1:]})
	}

	var checks []check
	for _, id := range ids {
		out := p.checker.CheckHost(ctx, ip, id.domain, id.sender, helo)
		checks = append(checks, check{id, out})
		// A HELO fail is conclusive (RFC 7208 §2.3): MAIL FROM need not be asked.
		if id.name == "helo" && len(ids) > 1 && out.Result == Fail {
			break
		}
	}
	decisive := checks[len(checks)-1]
	v := p.verdict(decisive, ip)
	for _, c := range checks {
		v.AuthResults = append(v.AuthResults, authResult(c))
	}
	if v.Action == sdk.ActionContinue { // a refused MAIL has no DATA to stamp
		p.remember(t.Session.ID, checks, ip, helo, p.actions[decisive.out.Result], v.Reason)
	}
	return v, nil
}

// verdict applies the configured action to c's result. Reply codes are
// RFC 7372 §3.2's: x.7.23 for a failed check, x.7.24 for an error.
func (p *Plugin) verdict(c check, ip netip.Addr) sdk.Verdict {
	res := c.out.Result
	reason := fmt.Sprintf("spf=%s %s=%s", res, c.id.name, c.id.domain)
	if c.out.Mechanism != "" {
		reason += " mechanism=" + c.out.Mechanism
	}
	if c.out.Problem != "" {
		reason += ": " + c.out.Problem
	}
	switch p.actions[res] {
	case actReject:
		switch res {
		case PermError:
			return sdk.Reject(550, "5.7.24", "SPF permanent error for "+c.id.domain).Because(reason)
		case TempError:
			return sdk.Reject(550, "5.7.24", "SPF temporary error for "+c.id.domain).Because(reason)
		case Fail:
			exp := safeText(c.out.Explanation)
			if exp == "" {
				exp = fmt.Sprintf("%s does not designate %s as a permitted sender", c.id.domain, ip)
			}
			return sdk.Reject(550, "5.7.23", "SPF check failed: "+exp).Because(reason)
		default:
			return sdk.Reject(550, "5.7.23", fmt.Sprintf("SPF check failed: %s for %s", res, c.id.domain)).Because(reason)
		}
	case actTempfail:
		if res == TempError || res == PermError {
			return sdk.Tempfail(451, "4.7.24", "SPF temporary error for "+c.id.domain+", try again later").Because(reason)
		}
		return sdk.Tempfail(451, "4.7.23", fmt.Sprintf("SPF check failed: %s for %s", res, c.id.domain)).Because(reason)
	}
	return sdk.Continue().Because(reason)
}

// authResult is c as an Authentication-Results method (RFC 8601 §2.7.2).
func authResult(c check) sdk.AuthResult {
	ar := sdk.AuthResult{Method: "spf", Result: string(c.out.Result), Reason: safeText(c.out.Problem)}
	if c.id.name == "helo" {
		ar.Props = map[string]string{"smtp.helo": c.id.domain}
	} else {
		ar.Props = map[string]string{"smtp.mailfrom": c.id.sender}
	}
	return ar
}

// remember keeps the Received-SPF fields (and a quarantine) for the data
// hook of this session's transaction.
func (p *Plugin) remember(session string, checks []check, ip netip.Addr, helo string, act action, reason string) {
	addHeader := act == actTag || p.cfg.ReceivedSPF == nil || *p.cfg.ReceivedSPF
	if !addHeader && act != actQuarantine {
		return
	}
	var headers []string
	if addHeader {
		for _, c := range checks {
			headers = append(headers, receivedSPF(c, ip, helo, p.cfg.Hostname))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.pending[session] = pendingTxn{seq: p.seq, headers: headers, action: act, reason: reason}
	p.order = append(p.order, pendingKey{session, p.seq})
	for len(p.pending) > maxPending || len(p.order) > 2*maxPending {
		k := p.order[0]
		p.order = p.order[1:]
		if cur, ok := p.pending[k.session]; ok && cur.seq == k.seq {
			delete(p.pending, k.session)
		}
	}
}

func (p *Plugin) forget(session string) {
	p.mu.Lock()
	delete(p.pending, session)
	p.mu.Unlock()
}

// Data adds the Received-SPF fields of the mail hook's check, prepended as
// RFC 7208 §9.1 asks, and quarantines when that was the action.
func (p *Plugin) Data(_ context.Context, t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
	p.mu.Lock()
	pt, ok := p.pending[t.Session.ID]
	delete(p.pending, t.Session.ID)
	p.mu.Unlock()
	if !ok {
		return sdk.Continue(), nil
	}
	var edits []sdk.Edit
	for i, h := range pt.headers {
		edits = append(edits, sdk.InsertHeader{Index: i, Name: "Received-SPF", Value: h})
	}
	if pt.action == actQuarantine {
		v := sdk.Quarantine(pt.reason)
		v.Edits = edits
		return v, nil
	}
	return sdk.Continue(edits...), nil
}

// safeText keeps printable ASCII of DNS-supplied text for an SMTP reply
// or a header comment, at most 200 characters.
func safeText(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e {
			b = append(b, c)
		}
	}
	return strings.TrimSpace(string(b))
}

var (
	_ sdk.MailHook     = (*Plugin)(nil)
	_ sdk.DataHook     = (*Plugin)(nil)
	_ sdk.BodyOptional = (*Plugin)(nil)
)
