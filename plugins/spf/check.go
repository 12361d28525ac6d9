package spf

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// Resolver is the DNS the evaluator asks. *dnsresolve.Resolver satisfies
// it; NXDOMAIN must satisfy dnsresolve.IsNotFound and every other failure
// counts as a DNS error (temperror).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupA(ctx context.Context, host string) ([]netip.Addr, error)
	LookupAAAA(ctx context.Context, host string) ([]netip.Addr, error)
	LookupMX(ctx context.Context, domain string) ([]dnsresolve.MX, error)
	LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error)
}

// Processing limits of RFC 7208 §4.6.4.
const (
	maxDNSTerms = 10 // include, a, mx, ptr, exists and redirect together
	maxVoids    = 2  // lookups answering NXDOMAIN or no records
	maxMXNames  = 10 // MX names an "mx" mechanism may look up
	maxPTRNames = 10 // PTR names a "ptr" mechanism or %{p} may look at
	maxDomain   = 253
)

// DefaultExplanation is the explanation of a fail when the domain gives
// none (RFC 7208 §6.2 leaves it to local policy). It is a macro-string.
const DefaultExplanation = "%{o} does not designate %{c} as a permitted sender"

// Checker evaluates SPF policies.
type Checker struct {
	Resolver Resolver
	// Receiver is the receiving host's name, for %{r} (RFC 7208 §7.2).
	Receiver string
	// Explanation is the default explanation macro-string; "" means
	// DefaultExplanation.
	Explanation string
	// Now is the clock for %{t}; nil means time.Now.
	Now func() time.Time
	// Timeout bounds one check_host() with everything it asks; 0 means
	// DefaultTimeout. A ctx deadline that comes first bounds it too.
	Timeout time.Duration
}

// DefaultTimeout is the total time a check may take: RFC 7208 §4.6.4 asks
// for a limit that allows at least 20 seconds, and temperror past it.
const DefaultTimeout = 20 * time.Second

// Outcome is check_host()'s answer.
type Outcome struct {
	Result Result
	// Explanation is set for fail: the domain's exp= text, else the
	// default (RFC 7208 §6.2). It comes from DNS: untrusted text.
	Explanation string
	// Mechanism is the term that decided ("-all", "ip4:192.0.2.0/24"),
	// "default" when none matched; empty on errors and none.
	Mechanism string
	// Problem says why the result is none, temperror or permerror.
	Problem string
}

// CheckHost is check_host(ip, domain, sender) of RFC 7208 §4 with the HELO
// name for %{h}. sender is the MAIL FROM address, or "" for a HELO check,
// which uses postmaster@domain (RFC 7208 §2.4).
func (c *Checker) CheckHost(ctx context.Context, ip netip.Addr, domain, sender, helo string) Outcome {
	ip = ip.Unmap() // an IPv4-mapped address is IPv4 (RFC 7208 §5)
	// An internationalized domain (SMTPUTF8) is checked, and expanded in
	// %{d}, %{o} and %{s}, as its A-labels: the form DNS and SPF records
	// hold (RFC 8616 §4, RFC 7208 §4.3).
	domain = dnsresolve.ASCII(strings.TrimSuffix(domain, "."))
	if sender == "" {
		sender = "postmaster@" + domain
	}
	local, senderDomain := sender, domain
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		local, senderDomain = sender[:i], dnsresolve.ASCII(sender[i+1:])
	}
	if local == "" {
		local = "postmaster" // RFC 7208 §4.3
	}
	sender = local + "@" + senderDomain
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	e := &evaluation{c: c, ip: ip, env: macroEnv{
		sender: sender, local: local, senderDomain: senderDomain,
		ip: ip, helo: helo, receiver: c.Receiver, now: now(),
	}}
	// RFC 7208 §4.3: a malformed or single-label domain is "none".
	if !validDomain(domain) {
		return Outcome{Result: None, Problem: "not a valid domain: " + domain}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, exp, mech, err := e.checkHost(ctx, domain, true)
	if err != nil {
		var a *abort
		if errors.As(err, &a) {
			return Outcome{Result: a.result, Problem: a.reason}
		}
		return Outcome{Result: TempError, Problem: err.Error()}
	}
	out := Outcome{Result: res, Explanation: exp, Mechanism: mech}
	if res == None {
		out.Problem = "no SPF record for " + domain
	}
	return out
}

// evaluation is one check_host() call with its nested includes and
// redirects, which share the lookup counters (RFC 7208 §4.6.4).
type evaluation struct {
	c       *Checker
	ip      netip.Addr
	env     macroEnv
	lookups int
	voids   int

	ptrDone  bool
	ptrNames []string // validated names of ip, for ptr and %{p}
	ptrVoid  bool
	ptrErr   error
}

// checkHost evaluates domain's record. wantExp is false inside include,
// whose explanation is never used (RFC 7208 §6.2).
func (e *evaluation) checkHost(ctx context.Context, domain string, wantExp bool) (Result, string, string, error) {
	rec, err := e.fetchRecord(ctx, domain)
	if err != nil || rec == nil {
		return None, "", "", err
	}
	for _, m := range rec.mechs {
		ok, err := e.match(ctx, m, domain)
		if err != nil {
			return "", "", "", err
		}
		if !ok {
			continue
		}
		exp := ""
		if m.result == Fail && wantExp {
			exp = e.explain(ctx, rec, domain)
		}
		return m.result, exp, m.term, nil
	}
	if rec.redirect == nil {
		return Neutral, "", "default", nil // RFC 7208 §4.7
	}
	// RFC 7208 §6.1: the redirect's result is the result; its exp is the
	// one that applies, and a target without a record is a permerror.
	if err := e.countLookup(); err != nil {
		return "", "", "", err
	}
	target, valid := e.target(ctx, rec.redirect, domain)
	if !valid {
		return "", "", "", permErr("redirect to invalid domain %q", target)
	}
	res, exp, mech, err := e.checkHost(ctx, target, wantExp)
	if err != nil {
		return "", "", "", err
	}
	if res == None {
		return "", "", "", permErr("redirect target %s has no SPF record", target)
	}
	return res, exp, mech, nil
}

// fetchRecord looks up and parses domain's SPF record (RFC 7208 §4.4,
// §4.5); nil without error means "none".
func (e *evaluation) fetchRecord(ctx context.Context, domain string) (*record, error) {
	txts, err := e.c.Resolver.LookupTXT(ctx, domain)
	if dnsresolve.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, tempErr("TXT %s: %v", domain, err)
	}
	var spf []string
	for _, t := range txts {
		if isSPFRecord(t) {
			spf = append(spf, t)
		}
	}
	switch len(spf) {
	case 0:
		return nil, nil
	case 1:
		return parseRecord(spf[0])
	default:
		return nil, permErr("%s publishes %d SPF records", domain, len(spf))
	}
}

func (e *evaluation) countLookup() error {
	e.lookups++
	if e.lookups > maxDNSTerms {
		return permErr("more than %d DNS-querying terms", maxDNSTerms)
	}
	return nil
}

func (e *evaluation) countVoid() error {
	e.voids++
	if e.voids > maxVoids {
		return permErr("more than %d void lookups", maxVoids)
	}
	return nil
}

// match evaluates one mechanism (RFC 7208 §5).
func (e *evaluation) match(ctx context.Context, m mechanism, domain string) (bool, error) {
	switch m.kind {
	case mechAll:
		return true, nil
	case mechIP4, mechIP6:
		return m.prefix.Contains(e.ip), nil
	}
	if err := e.countLookup(); err != nil {
		return false, err
	}
	target, valid := e.target(ctx, m.domain, domain)
	if !valid && m.kind != mechInclude {
		// A name no DNS query can carry does not exist (RFC 7208 §4.3 by
		// analogy; the test suite's "invalid-domain-*" cases).
		return false, nil
	}
	switch m.kind {
	case mechInclude:
		if !valid {
			return false, permErr("include of invalid domain %q", target)
		}
		res, _, _, err := e.checkHost(ctx, target, false)
		if err != nil {
			return false, err
		}
		// RFC 7208 §5.2 table.
		switch res {
		case Pass:
			return true, nil
		case Fail, Softfail, Neutral:
			return false, nil
		default: // none
			return false, permErr("included domain %s has no SPF record", target)
		}
	case mechA:
		addrs, err := e.lookupAddrs(ctx, target)
		if err != nil || len(addrs) == 0 {
			return false, e.voidOrTemp(err, "address", target)
		}
		return e.anyInCIDR(addrs, m), nil
	case mechMX:
		return e.matchMX(ctx, m, target)
	case mechPTR:
		names, void, err := e.validatedNames(ctx)
		if void {
			if err := e.countVoid(); err != nil {
				return false, err
			}
		}
		if outOfTime(err) {
			return false, tempErr("ptr: %v", err) // RFC 7208 §4.6.4
		}
		if err != nil {
			return false, nil // RFC 7208 §5.5: a PTR lookup error is no match
		}
		for _, n := range names {
			if isSubdomain(n, target) {
				return true, nil
			}
		}
		return false, nil
	case mechExists:
		// Always an A query, whatever the client's family (RFC 7208 §5.7).
		addrs, err := e.c.Resolver.LookupA(ctx, target)
		if err != nil || len(addrs) == 0 {
			return false, e.voidOrTemp(err, "A", target)
		}
		return true, nil
	}
	return false, permErr("unknown mechanism %s", m.kind)
}

// voidOrTemp turns a lookup with no answer into a void lookup and a DNS
// error into a temperror.
func (e *evaluation) voidOrTemp(err error, what, name string) error {
	if err == nil || dnsresolve.IsNotFound(err) {
		return e.countVoid()
	}
	return tempErr("%s %s: %v", what, name, err)
}

// matchMX looks up the MX names of target, at most 10 (RFC 7208 §4.6.4),
// and compares each one's addresses.
func (e *evaluation) matchMX(ctx context.Context, m mechanism, target string) (bool, error) {
	mxs, err := e.c.Resolver.LookupMX(ctx, target)
	if errors.Is(err, dnsresolve.ErrNullMX) {
		err, mxs = nil, nil // RFC 7505: no exchangers, nothing matches
	}
	if err != nil || len(mxs) == 0 {
		return false, e.voidOrTemp(err, "MX", target)
	}
	if len(mxs) > maxMXNames {
		return false, permErr("%s has %d MX names, more than %d", target, len(mxs), maxMXNames)
	}
	for _, mx := range mxs {
		addrs, err := e.lookupAddrs(ctx, mx.Host)
		if err != nil && !dnsresolve.IsNotFound(err) {
			return false, tempErr("address %s: %v", mx.Host, err)
		}
		if e.anyInCIDR(addrs, m) {
			return true, nil
		}
	}
	return false, nil
}

// lookupAddrs asks for the client's address family (RFC 7208 §5).
func (e *evaluation) lookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if e.ip.Is4() {
		return e.c.Resolver.LookupA(ctx, host)
	}
	return e.c.Resolver.LookupAAAA(ctx, host)
}

func (e *evaluation) anyInCIDR(addrs []netip.Addr, m mechanism) bool {
	bits := m.cidr6
	if e.ip.Is4() {
		bits = m.cidr4
	}
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() != e.ip.Is4() {
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}

// validatedNames are the PTR names of ip whose addresses include ip
// (RFC 7208 §5.5), looking at no more than 10 names. It is asked once per
// evaluation.
func (e *evaluation) validatedNames(ctx context.Context) (names []string, void bool, err error) {
	if e.ptrDone {
		return e.ptrNames, e.ptrVoid, e.ptrErr
	}
	e.ptrDone = true
	ptrs, err := e.c.Resolver.LookupPTR(ctx, e.ip)
	if err != nil || len(ptrs) == 0 {
		e.ptrVoid = err == nil || dnsresolve.IsNotFound(err)
		e.ptrErr = err
		return nil, e.ptrVoid, err
	}
	if len(ptrs) > maxPTRNames {
		ptrs = ptrs[:maxPTRNames]
	}
	for _, name := range ptrs {
		name = strings.TrimSuffix(name, ".")
		addrs, err := e.lookupAddrs(ctx, name)
		if outOfTime(err) {
			// The check's time is up, not this name's server: the names
			// left are not "skipped" into a fail (RFC 7208 §4.6.4).
			e.ptrNames, e.ptrErr = nil, err
			return nil, false, err
		}
		if err != nil {
			continue // RFC 7208 §5.5: skip the name, keep looking
		}
		for _, a := range addrs {
			if a.Unmap() == e.ip {
				e.ptrNames = append(e.ptrNames, name)
				break
			}
		}
	}
	return e.ptrNames, false, nil
}

// outOfTime reports whether a lookup failed because the check's time ran
// out (or its caller went away) rather than because of a server.
func outOfTime(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// ptrMacro is %{p}: the validated name equal to domain, else one under it,
// else any, else "unknown" (RFC 7208 §7.3).
func (e *evaluation) ptrMacro(ctx context.Context, domain string) string {
	names, _, _ := e.validatedNames(ctx)
	for _, n := range names {
		if strings.EqualFold(n, domain) {
			return n
		}
	}
	for _, n := range names {
		if isSubdomain(n, domain) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return "unknown"
}

// target expands a domain-spec (nil: the current domain) into a name to
// query, truncated from the left to 253 characters (RFC 7208 §7.3).
// valid is false when no DNS query could carry the name.
func (e *evaluation) target(ctx context.Context, ms *macroString, domain string) (string, bool) {
	if ms == nil {
		return domain, true
	}
	// Two bytes past the limit are enough to cut it the same way: one for
	// a trailing dot, one to see whether the kept part follows a dot.
	d, _ := ms.expandTail(e.envFor(ctx, domain), maxDomain+2)
	d = strings.TrimSuffix(d, ".")
	for len(d) > maxDomain {
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return d, false
		}
		d = d[i+1:]
	}
	return d, validLabels(d)
}

func (e *evaluation) envFor(ctx context.Context, domain string) *macroEnv {
	env := e.env
	env.domain = domain
	env.ptr = func() string { return e.ptrMacro(ctx, domain) }
	return &env
}

// explain returns the explanation of a fail (RFC 7208 §6.2): the exp=
// TXT record expanded, or the default when exp= is absent, its lookup
// fails, it finds other than one record or the text is not valid.
func (e *evaluation) explain(ctx context.Context, rec *record, domain string) string {
	if rec.exp != nil {
		if s, ok := e.fetchExplanation(ctx, rec.exp, domain); ok {
			return s
		}
	}
	def := e.c.Explanation
	if def == "" {
		def = DefaultExplanation
	}
	ms, err := parseMacroString(def, true)
	if err != nil {
		return def
	}
	return ms.expand(e.envFor(ctx, domain))
}

func (e *evaluation) fetchExplanation(ctx context.Context, spec *macroString, domain string) (string, bool) {
	target, valid := e.target(ctx, spec, domain)
	if !valid {
		return "", false
	}
	txts, err := e.c.Resolver.LookupTXT(ctx, target)
	if err != nil || len(txts) != 1 {
		return "", false
	}
	ms, err := parseMacroString(txts[0], true)
	if err != nil {
		return "", false
	}
	return ms.expand(e.envFor(ctx, domain)), true
}

// isSubdomain reports whether name is domain or under it, ignoring case.
func isSubdomain(name, domain string) bool {
	name, domain = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(domain)
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// validLabels reports whether d can be a DNS query name: labels of 1 to 63
// octets (RFC 1035 §2.3.4).
func validLabels(d string) bool {
	if d == "" || len(d) > maxDomain {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// validDomain is RFC 7208 §4.3's test of check_host()'s <domain>: a
// well-formed multi-label name with a proper top label (so no IP literal).
func validDomain(d string) bool {
	if !validLabels(d) || !strings.Contains(d, ".") {
		return false
	}
	return isTopLabel(d[strings.LastIndexByte(d, '.')+1:])
}
