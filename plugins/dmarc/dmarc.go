// Package dmarc is the first-party DMARC plugin (RFC 7489). At the data
// hook it finds the RFC5322.From domain's policy in DNS and checks that an
// SPF pass (smtp.mailfrom, or smtp.helo for a null sender) or a DKIM pass
// (header.d) reported by the stages before it is aligned with that domain. It never repeats those checks nor re-reads Authentication-Results
// headers: it reads t.AuthResults, the core's structured record of what
// earlier stages found. Put it after the spf and dkim stages.
//
//	[[stage]]
//	name   = "dmarc"
//	plugin = "dmarc"
//	[stage.config]
//	reject     = true        # honour p=reject (false: quarantine instead)
//	quarantine = true        # honour p=quarantine (false: deliver)
//	no_record  = "continue"  # no DMARC record: continue|quarantine|reject|tempfail
//	temperror  = "tempfail"  # DNS failure on the record, or an aligned temperror
//	permerror  = "continue"  # no From field, or no domain in it (more than 16 domains: reject)
//	skip_networks      = ["127.0.0.0/8", "::1/128"]  # clients not checked
//	skip_authenticated = true                        # nor AUTH clients
//	skip_relay_clients = true                        # nor relay_networks clients
//	arc_trusted_sealers = ["lists.example.org"]      # forwarders whose ARC dmarc=pass counts (arc.go)
//
// DMARC is a receiver's check of mail arriving from other domains (RFC
// 7489 §6.6): the site's own outbound mail is not judged by it, as
// opendmarc leaves its IgnoreHosts and authenticated clients alone. By
// default the stage skips exactly the clients the spf stage skips —
// loopback and authenticated sessions — since for those no SPF result
// exists and the dkim sign stage has not yet run: a p=reject of the
// site's own domain would refuse its own mail.
package dmarc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// The dmarc results (RFC 7489 §11.2, RFC 8601 §2.7.3).
const (
	ResultPass      = "pass"
	ResultFail      = "fail"
	ResultNone      = "none"
	ResultTempError = "temperror"
	ResultPermError = "permerror"
)

// The replies. RFC 7489 §10.3 suggests 5.7.1 for a rejection; a
// temporary failure uses the 4.7.1 of the same meaning (RFC 3463 §3.8).
const (
	codeReject   = 550
	codeTempfail = 451
	statusReject = "5.7.1"
	statusTemp   = "4.7.1"
)

// Local actions for the cases the policy does not decide.
const (
	actionContinue   = "continue"
	actionQuarantine = "quarantine"
	actionReject     = "reject"
	actionTempfail   = "tempfail"
)

// Config is the stage's [stage.config].
type Config struct {
	// Reject honours p=reject; when false such mail is quarantined (or
	// delivered when Quarantine is false too). Default true.
	Reject bool `json:"reject"`
	// Quarantine honours p=quarantine. Default true.
	Quarantine bool `json:"quarantine"`
	// NoRecord is what to do when the From domain has no DMARC record:
	// continue (default), quarantine, reject or tempfail.
	NoRecord string `json:"no_record"`
	// Temperror is what to do when the record could not be fetched, or
	// when no aligned pass exists but an aligned SPF or DKIM check ended
	// in a temporary error: tempfail (default), continue, quarantine or
	// reject.
	Temperror string `json:"temperror"`
	// Permerror is what to do when the message has no From field, or no
	// domain in it (RFC 7489 §6.6.1): continue (default), quarantine,
	// reject, tempfail. From fields of a few domains (one field or
	// several, parseable or not) are checked for each of them instead;
	// more than maxAuthorDomains are refused.
	Permerror string `json:"permerror"`
	// SkipNetworks are client networks (CIDR or address) whose mail is not
	// evaluated; default loopback, as the spf stage's skip_networks.
	SkipNetworks []string `json:"skip_networks"`
	// SkipAuthenticated skips clients that authenticated (default true,
	// as the spf stage): DMARC says nothing about submission.
	SkipAuthenticated *bool `json:"skip_authenticated"`
	// SkipRelayClients skips clients in the core's relay_networks
	// (default true, as the spf stage).
	SkipRelayClients *bool `json:"skip_relay_clients"`
	// ArcTrustedSealers are the ARC sealers (ARC-Seal d=) whose record
	// of dmarc=pass lets a failing message through when its ARC chain
	// validated (arc.go); default none.
	ArcTrustedSealers []string `json:"arc_trusted_sealers"`
	// Reports is [stage.config.reports]: aggregate reports to the rua=
	// of the domains evaluated (report_config.go); nil: none.
	Reports *ReportsConfig `json:"reports"`
	// FailureReports is [stage.config.failure_reports]: failure reports
	// to the ruf= of the domains evaluated (report_failure_config.go);
	// nil or not enabled: none.
	FailureReports *FailureReportsConfig `json:"failure_reports"`
}

// Plugin evaluates DMARC at the data hook.
type Plugin struct {
	sdk.Base

	// Resolver answers the _dmarc queries; nil means dnsresolve.FromEnv()
	// at Configure.
	Resolver *dnsresolve.Resolver
	// IntN returns a number in [0, n) for pct sampling; nil means
	// math/rand/v2.IntN. Tests inject their own.
	IntN func(n int) int
	// Clock is the time aggregate reports go by; nil means time.Now.
	Clock func() time.Time
	// Rand returns a number in [0, 1) for the reports' send delay; nil
	// means math/rand/v2.Float64.
	Rand func() float64

	cfg     Config
	skip    []netip.Prefix
	sealers map[string]bool
	reports *reporter
	// failures sends failure reports; nil when they are off.
	failures *failureReporter
	// noLoop keeps Configure from starting the reports' sender, for
	// tests that run its passes themselves.
	noLoop bool
	// stopReports ends the sender a previous Configure started, and
	// waits for it to return.
	stopReports func()
}

// Configure reads the config and builds the resolver.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	p.cfg = Config{Reject: true, Quarantine: true, NoRecord: actionContinue, Temperror: actionTempfail, Permerror: actionContinue,
		SkipNetworks: []string{"127.0.0.0/8", "::1/128"}}
	if err := c.Decode(&p.cfg); err != nil {
		return err
	}
	skip, err := netlist.Prefixes(p.cfg.SkipNetworks)
	if err != nil {
		return fmt.Errorf("skip_networks: %w", err)
	}
	p.skip = skip
	if p.sealers, err = sealerSet(p.cfg.ArcTrustedSealers); err != nil {
		return err
	}
	for key, v := range map[string]string{"no_record": p.cfg.NoRecord, "temperror": p.cfg.Temperror, "permerror": p.cfg.Permerror} {
		switch v {
		case actionContinue, actionQuarantine, actionReject, actionTempfail:
		default:
			return fmt.Errorf("%s = %q: want continue, quarantine, reject or tempfail", key, v)
		}
	}
	if p.IntN == nil {
		p.IntN = rand.IntN
	}
	if p.Resolver == nil {
		r, err := dnsresolve.FromEnv()
		if err != nil {
			return err
		}
		p.Resolver = r
	}
	if err := p.configureFailures(c); err != nil {
		return err
	}
	return p.configureReports(c)
}

// HeadersOnly: DMARC reads the From field only; failure reports with
// include_body need the body too.
func (p *Plugin) HeadersOnly() bool { return p.failures == nil || !p.failures.cfg.IncludeBody }

// skipped says why the client's mail is not evaluated, or "" when it is.
// The rules are the spf stage's, so that DMARC never judges mail SPF did
// not check (RFC 7489 §6.6 is the receiver's side of the protocol).
func (p *Plugin) skipped(s sdk.Session) string {
	if ip, err := netip.ParseAddr(s.ClientIP); err == nil {
		if ip = ip.Unmap(); netlist.Contains(p.skip, ip) {
			return "dmarc: not evaluated, client " + ip.String() + " in skip_networks"
		}
	}
	if s.AuthUser != "" && (p.cfg.SkipAuthenticated == nil || *p.cfg.SkipAuthenticated) {
		return "dmarc: not evaluated, authenticated client"
	}
	if s.RelayClient && (p.cfg.SkipRelayClients == nil || *p.cfg.SkipRelayClients) {
		return "dmarc: not evaluated, client in relay_networks"
	}
	return ""
}

// Data evaluates the message and applies the policy.
func (p *Plugin) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	if p.reports != nil {
		p.reports.coreRunning() // the reports' first pass may go
	}
	if why := p.skipped(t.Session); why != "" {
		// Like the spf stage's skip: said in the trace, and no result for
		// Authentication-Results, as nothing was evaluated.
		return sdk.Continue().Because(why), nil
	}
	domains, err := authorDomains(m)
	if err != nil {
		ar := sdk.AuthResult{Method: "dmarc", Result: ResultPermError, Reason: err.Error()}
		action := p.cfg.Permerror
		if errors.Is(err, errTooManyAuthors) {
			action = actionReject
		}
		return p.local(action, "", ar, "dmarc: "+err.Error()), nil
	}
	// RFC 7489 §6.6.1: a From field with addresses in several domains is
	// checked for each domain, and the strictest policy among those that
	// fail applies. Left to the permerror action (continue by default),
	// "From: x@attacker.example, ceo@bank.example" passed a p=reject of
	// bank.example unchecked. The records are fetched together, so that
	// one slow domain does not hold up the others.
	found := make([]discovery, len(domains))
	var wg sync.WaitGroup
	for i, d := range domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found[i].rec, found[i].at, found[i].err = p.discover(ctx, d)
		}()
	}
	wg.Wait()
	fw := p.trustedForwarders(t.AuthResults, m)
	var v sdk.Verdict
	var ars []sdk.AuthResult
	var reasons []string
	var rows []*historyRow
	var fails []failureCase
	for i, d := range domains {
		dv, row := p.judge(d, found[i], t.AuthResults, fw)
		if row != nil {
			rows = append(rows, row)
		}
		if p.failures != nil {
			if fc, ok := p.failures.due(d, found[i], dv, t.AuthResults); ok {
				fails = append(fails, fc)
			}
		}
		ars = append(ars, dv.AuthResults...)
		reasons = append(reasons, dv.Reason)
		if i == 0 || strictness(dv.Action) > strictness(v.Action) {
			v = dv
		}
	}
	v.AuthResults, v.Reason = ars, strings.Join(reasons, "; ")
	// A message answered 451 is evaluated again at its retry, where it
	// is counted: the rows of its other author domains wait for it too.
	if p.reports != nil && len(rows) > 0 && v.Action != sdk.ActionTempfail {
		p.reports.record(t, rows)
	}
	// Failure reports follow the same rule: none for a message answered
	// 451, whose retry is evaluated again.
	if len(fails) > 0 && v.Action != sdk.ActionTempfail {
		p.failures.report(t, m, fails, v.Action)
	}
	return v, nil
}

// discovery is what discover found for one author domain.
type discovery struct {
	rec *Record
	at  string
	err error
}

// strictness orders the actions a DMARC verdict can take, the strictest
// last: it picks the policy that applies to a From field of several
// domains.
func strictness(a sdk.Action) int {
	switch a {
	case sdk.ActionReject:
		return 3
	case sdk.ActionTempfail:
		return 2
	case sdk.ActionQuarantine:
		return 1
	}
	return 0
}

// judge applies the record found for the author domain to the results of
// the stages before. The row is what an aggregate report says of it, nil
// when none is due: reports are off, the domain has no record or asks for
// no reports (no rua=), or the message is refused for now (tempfail: its
// retry is evaluated again, and counted then). fw are the message's
// trusted forwarders, whose dmarc=pass overrides a failure (arc.go).
func (p *Plugin) judge(domain string, f discovery, results []sdk.AuthResult, fw forwarders) (sdk.Verdict, *historyRow) {
	ar := sdk.AuthResult{Method: "dmarc", Props: map[string]string{"header.from": domain}}
	rec, at, err := f.rec, f.at, f.err
	if err != nil {
		ar.Result, ar.Reason = ResultTempError, err.Error()
		return p.local(p.cfg.Temperror, domain, ar, "dmarc: "+err.Error()), nil
	}
	if rec == nil {
		ar.Result, ar.Reason = ResultNone, "no DMARC record"
		return p.local(p.cfg.NoRecord, domain, ar, "dmarc: no record for "+domain), nil
	}
	var row *historyRow
	if p.reports != nil && len(rec.RUA) > 0 {
		row = newHistoryRow(domain, at, rec, results)
	}
	policy := rec.Policy
	if at != domain && rec.SubdomainPolicy != "" {
		// RFC 7489 §6.3 sp=: the record was found at the organizational
		// domain and the From domain is below it.
		policy = rec.SubdomainPolicy
	}
	how, res := evaluate(domain, rec, results)
	switch res {
	case ResultPass:
		ar.Result, ar.Reason = ResultPass, fmt.Sprintf("p=%s %s", policy, how)
		row.dispose(PolicyNone, nil)
		return sdk.Verdict{Reason: "dmarc: pass for " + domain + " (" + how + ")", AuthResults: []sdk.AuthResult{ar}}, row
	case ResultTempError:
		// No aligned pass, but an aligned check could not be completed (a
		// DKIM key or SPF record lookup failed for now): a later attempt
		// may pass, so the policy is not applied as if the message had
		// failed (RFC 7489 §11.2, dmarc=temperror). The temperror action
		// decides, as for a DNS failure on the _dmarc record, unless the
		// policy would let a failing message through anyway.
		ar.Result, ar.Reason = ResultTempError, fmt.Sprintf("p=%s %s", policy, how)
		internal := "dmarc: temperror for " + domain + ", " + ar.Reason
		if dis, why := p.disposition(policy, rec.Percent); dis == PolicyNone {
			row.dispose(dis, why)
			return sdk.Verdict{Reason: internal, AuthResults: []sdk.AuthResult{ar}}, row
		}
		v := p.local(p.cfg.Temperror, domain, ar, internal)
		if v.Action == sdk.ActionTempfail {
			return v, nil
		}
		row.dispose(actionPolicy(v.Action), []overrideReason{{Type: "local_policy", Comment: "temperror = " + p.cfg.Temperror}})
		return v, row
	}
	dis, why := p.disposition(policy, rec.Percent)
	if fv, ok := fw.vouchFor(domain); ok && dis != PolicyNone {
		// RFC 7489 §6.7 local policy: the failure stays dmarc=fail, and
		// the disposition is none, with the forwarder that vouched.
		o := fv.override()
		dis, why = PolicyNone, append(why, o)
		how += "; " + o.Type + ": " + o.Comment
	}
	row.dispose(dis, why)
	ar.Result = ResultFail
	ar.Reason = fmt.Sprintf("p=%s pct=%d dis=%s: %s", policy, rec.Percent, dis, how)
	internal := "dmarc: fail for " + domain + ", " + ar.Reason
	var v sdk.Verdict
	switch dis {
	case PolicyReject:
		v = sdk.Reject(codeReject, statusReject, "DMARC policy of "+domain+": rejected")
	case PolicyQuarantine:
		v = sdk.Quarantine(internal)
	}
	v.Reason, v.AuthResults = internal, []sdk.AuthResult{ar}
	return v, row
}

// disposition applies pct and the local overrides to a failing message's
// policy, and says why it is not the policy, as an aggregate report has
// it (RFC 7489 Appendix C, PolicyOverrideType). RFC 7489 §6.6.4: a
// message not sampled by pct gets the next weaker policy (reject →
// quarantine, quarantine → none).
func (p *Plugin) disposition(policy Policy, pct int) (Policy, []overrideReason) {
	var why []overrideReason
	if policy != PolicyNone && pct < 100 && (pct <= 0 || p.IntN(100) >= pct) {
		if policy == PolicyReject {
			policy = PolicyQuarantine
		} else {
			policy = PolicyNone
		}
		why = append(why, overrideReason{Type: "sampled_out", Comment: fmt.Sprintf("pct=%d", pct)})
	}
	if policy == PolicyReject && !p.cfg.Reject {
		policy = PolicyQuarantine
		why = append(why, overrideReason{Type: "local_policy", Comment: "reject = false"})
	}
	if policy == PolicyQuarantine && !p.cfg.Quarantine {
		policy = PolicyNone
		why = append(why, overrideReason{Type: "local_policy", Comment: "quarantine = false"})
	}
	return policy, why
}

// actionPolicy is the disposition a verdict's action amounts to.
func actionPolicy(a sdk.Action) Policy {
	switch a {
	case sdk.ActionReject:
		return PolicyReject
	case sdk.ActionQuarantine:
		return PolicyQuarantine
	}
	return PolicyNone
}

// local turns a configured action into a verdict carrying ar.
func (p *Plugin) local(action, domain string, ar sdk.AuthResult, reason string) sdk.Verdict {
	var v sdk.Verdict
	what := "DMARC"
	if domain != "" {
		what = "DMARC policy of " + domain
	}
	switch action {
	case actionReject:
		v = sdk.Reject(codeReject, statusReject, what+": "+ar.Result)
	case actionTempfail:
		v = sdk.Tempfail(codeTempfail, statusTemp, what+": "+ar.Result+", try again later")
	case actionQuarantine:
		v = sdk.Quarantine(reason)
	}
	v.Reason, v.AuthResults = reason, []sdk.AuthResult{ar}
	return v
}

// evaluate looks for an SPF or DKIM pass of an earlier stage aligned with
// the From domain (RFC 7489 §3.1, §6.6.2 step 4) and says how it found
// it: ResultPass with the aligned identifier; else ResultTempError when an
// aligned identifier's check ended in a temporary error (RFC 8601 §2.7.1,
// §2.7.2 temperror: a later attempt might pass); else ResultFail.
func evaluate(from string, rec *Record, results []sdk.AuthResult) (how, result string) {
	spfProp := spfIdentity(results)
	var seen, temp []string
	for _, r := range results {
		var prop, d string
		var strict bool
		switch r.Method {
		case "dkim":
			prop, d, strict = "header.d", r.Props["header.d"], rec.StrictDKIM
		case "spf":
			v, ok := r.Props[spfProp]
			if !ok {
				continue
			}
			prop, d, strict = spfProp, addrDomain(v), rec.StrictSPF
		default:
			continue
		}
		d = normalize(d)
		aligned := d != "" && align(from, d, strict)
		id := r.Method + "=" + strings.ToLower(r.Result) + " " + prop + "=" + d
		switch strings.ToLower(r.Result) {
		case "pass":
			if aligned {
				return id + " aligned", ResultPass
			}
			seen = append(seen, id)
		case ResultTempError:
			if aligned {
				temp = append(temp, id)
			}
		}
	}
	if len(temp) > 0 {
		return "no aligned pass; aligned " + strings.Join(temp, ", "), ResultTempError
	}
	if len(seen) == 0 {
		return "no SPF or DKIM pass", ResultFail
	}
	return "not aligned: " + strings.Join(seen, ", "), ResultFail
}

// spfIdentity is the property of the SPF result DMARC uses: the MAIL FROM
// domain; for a null sender SPF checked postmaster@HELO in its place (RFC
// 7208 §2.4), reported as smtp.helo. A HELO check made besides MAIL FROM
// does not count.
func spfIdentity(results []sdk.AuthResult) string {
	for _, r := range results {
		if r.Method == "spf" && r.Props["smtp.mailfrom"] != "" {
			return "smtp.mailfrom"
		}
	}
	return "smtp.helo"
}

// addrDomain is the domain of an address, or v itself when it has no @.
func addrDomain(v string) string {
	return v[strings.LastIndexByte(v, '@')+1:]
}

// align compares an authenticated domain with the From domain: equal in
// strict mode, the same organizational domain in relaxed mode (RFC 7489
// §3.1.1, §3.1.2).
func align(from, d string, strict bool) bool {
	if strict {
		return from == d
	}
	return OrgDomain(from) == OrgDomain(d)
}

// OrgDomain is domain's organizational domain (RFC 7489 §3.2): the public
// suffix plus one label, or domain itself when it is a public suffix.
func OrgDomain(domain string) string {
	domain = normalize(domain)
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// normalize is d as domains are looked up, aligned and reported: folded
// to lowercase A-labels. RFC 8616 §6 has DMARC convert the U-labels of the
// From domain to A-labels first, and the identifiers SPF and DKIM report
// may come in either form: compared as written, a From of bücher.example
// did not align with d=xn--bcher-kva.example, and OrgDomain, whose public
// suffix list is in A-labels, took 公司.cn (itself a public suffix) as
// the organizational domain of every name under it.
func normalize(d string) string {
	return dnsresolve.Fold(strings.TrimSpace(d))
}

// discover finds the DMARC record for domain (RFC 7489 §6.6.3): at
// _dmarc.DOMAIN, else at _dmarc.ORGDOMAIN. It returns the record and the
// domain it was found at; nil when there is none; an error only for a
// temporary DNS failure.
func (p *Plugin) discover(ctx context.Context, domain string) (*Record, string, error) {
	rec, found, err := p.lookup(ctx, domain)
	if err != nil || found {
		return rec, domain, err
	}
	if org := OrgDomain(domain); org != domain {
		rec, _, err = p.lookup(ctx, org)
		return rec, org, err
	}
	return nil, domain, nil
}

// lookup fetches the DMARC records at _dmarc.domain. found is false when
// there is no record starting with v=DMARC1, so the caller goes on to the
// organizational domain; a set of several such records, or one that must
// be ignored, ends discovery without a record (§6.6.3 steps 3–6).
func (p *Plugin) lookup(ctx context.Context, domain string) (rec *Record, found bool, err error) {
	txts, err := p.Resolver.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if dnsresolve.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	var recs []string
	for _, t := range txts {
		if k, v, _ := strings.Cut(strings.SplitN(t, ";", 2)[0], "="); strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1" {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, len(recs) > 1, nil
	}
	rec, err = ParseRecord(recs[0])
	if err != nil {
		return nil, true, nil
	}
	return rec, true, nil
}

// maxAuthorDomains bounds the domains of the From fields that are
// checked, each costing a DNS lookup or two (all at once). A message with
// more is refused (errTooManyAuthors): it cannot be checked, and taken as
// a permerror it would let any forged author through behind enough decoy
// domains; RFC 7489 §6.6.1 lets a receiver reject such a message.
const maxAuthorDomains = 16

// errTooManyAuthors is authorDomains' error for more than maxAuthorDomains.
var errTooManyAuthors = errors.New("more author domains than can be checked")

// atDomain finds the domain after each "@" of a From field that does not
// parse as an address list (a@b@c, a broken display name, an unknown
// charset): each is checked, or such a field would hide a forged author.
var atDomain = regexp.MustCompile(`@([^\s@<>,;:"()\[\]\\]+)`)

// authorDomains are the distinct domains of the RFC5322.From fields, in
// order. RFC 5322 allows one From field; RFC 7489 §6.6.1 lets a receiver
// apply DMARC to each author domain of a message with several, or with
// several addresses in one. Taken as a permerror (continue by default), a
// forged From beside the real one, or a From that does not parse, passed
// the real domain's p=reject unchecked: every domain that can be found is
// checked, and a message without any is the permerror.
func authorDomains(m *sdk.Message) ([]string, error) {
	var froms []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "From") {
			froms = append(froms, h.Value)
		}
	}
	if len(froms) == 0 {
		return nil, fmt.Errorf("no From field")
	}
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d = normalize(d); d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, from := range froms {
		if list, err := mail.ParseAddressList(from); err == nil {
			for _, a := range list {
				add(a.Address[strings.LastIndexByte(a.Address, '@')+1:])
			}
			continue
		}
		for _, m := range atDomain.FindAllStringSubmatch(from, -1) {
			add(m[1])
		}
	}
	switch {
	case len(out) == 0:
		return nil, fmt.Errorf("no domain in the From field")
	case len(out) > maxAuthorDomains:
		return nil, fmt.Errorf("%d domains in the From field(s): %w", len(out), errTooManyAuthors)
	}
	return out, nil
}

var (
	_ sdk.DataHook     = (*Plugin)(nil)
	_ sdk.BodyOptional = (*Plugin)(nil)
)
