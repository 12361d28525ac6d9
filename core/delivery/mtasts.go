package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/reply"
)

// MTA-STS (RFC 8461): a domain publishes, over HTTPS, which MX hosts may
// receive its mail and whether they must present valid certificates.

// stsNoMX: in enforce mode no MX host matches the policy (RFC 8461 §4.1).
// RFC 3463 X.7.0: other security status.
var stsNoMX = reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 0}, Text: "No MX host allowed by the recipient domain's MTA-STS policy, will retry"}

const (
	stsMaxAge    = 31557600  // RFC 8461 §3.2: at most one year
	stsMaxPolicy = 64 * 1024 // RFC 8461 §3.3: a policy larger than 64 KiB is an error
)

// stsPolicy is a fetched MTA-STS policy.
type stsPolicy struct {
	id      string // from the _mta-sts TXT record
	mode    string // enforce | testing | none
	mx      []string
	expires time.Time
	// lines is the policy's text, line by line, for TLS reports (RFC
	// 8460 §4.4's policy-string). Kept with tls_rpt off too: the cache
	// outlives a reload that turns it on, and a policy cached without
	// its text would be reported without it until fetched again.
	lines []string
}

// matches reports whether host is allowed by one of the policy's mx
// patterns: an exact name, or "*.example.org" for exactly one more label
// on the left (RFC 8461 §4.1).
func (p *stsPolicy) matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.mx {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if label, parent, ok := strings.Cut(host, "."); ok && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// stsCache keeps fetched policies by domain until they expire (RFC 8461
// §5.1: a cached policy stays in force when DNS or HTTPS later fail). It
// holds at most stsCacheMax policies and stsCacheBytes of their text:
// the domains mail goes to (reports included, whose senders outsiders
// choose) could otherwise keep a policy each for up to a year.
type stsCache struct {
	mu    sync.Mutex
	m     map[string]*stsPolicy
	bytes int // of the policies' text held (size)
}

const (
	stsCacheMax   = 10000
	stsCacheBytes = 16 << 20
)

func newSTSCache() *stsCache { return &stsCache{m: map[string]*stsPolicy{}} }

func (c *stsCache) get(domain string, now time.Time) *stsPolicy {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.m[domain]
	if p != nil && !now.Before(p.expires) {
		c.drop(domain)
		return nil
	}
	return p
}

// put caches p for domain (fetched at now), making room first: the
// expired policies go, then those expiring soonest. A policy dropped
// early is fetched again at the domain's next delivery.
func (c *stsCache) put(domain string, p *stsPolicy, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop(domain)
	size := p.size()
	if len(c.m) >= stsCacheMax || c.bytes+size > stsCacheBytes {
		for d, q := range c.m {
			if !now.Before(q.expires) {
				c.drop(d)
			}
		}
	}
	for len(c.m) > 0 && (len(c.m) >= stsCacheMax || c.bytes+size > stsCacheBytes) {
		soonest := ""
		for d, q := range c.m {
			if soonest == "" || q.expires.Before(c.m[soonest].expires) {
				soonest = d
			}
		}
		c.drop(soonest)
	}
	c.m[domain] = p
	c.bytes += size
}

// drop removes domain's policy, if any. c.mu is held.
func (c *stsCache) drop(domain string) {
	if q := c.m[domain]; q != nil {
		c.bytes -= q.size()
		delete(c.m, domain)
	}
}

// size is what the cache counts p for: its mx patterns and its text.
func (p *stsPolicy) size() int {
	n := 0
	for _, pat := range p.mx {
		n += len(pat)
	}
	for _, l := range p.lines {
		n += len(l)
	}
	return n
}

// applySTS applies domain's MTA-STS policy to its MX hops. In enforce
// mode only MX hosts matching the policy remain, each requiring a
// certificate valid for its name, and a failure defers (RFC 8461 §5); in
// testing mode every host is tried, failures are logged, and delivery goes
// ahead as without a policy.
func (a *Agent) applySTS(ctx context.Context, domain string, hops []hop) ([]hop, *outcome) {
	p, err := a.stsPolicy(ctx, domain, true)
	noteSTS(ctx, p, err)
	tr := attemptTraceFrom(ctx)
	var rpt *rptPolicy // what a TLS report counts the sessions under
	if a.tlsrpt != nil && p != nil && p.mode != "none" {
		rpt = stsRPTPolicy(domain, p)
	}
	if p == nil || p.mode == "none" {
		tr.policy("none", false)
		for i := range hops {
			hops[i].tls.trace = tr
		}
		return hops, nil
	}
	// RFC 8689 §5: enforce mode is applied as testing mode, reported
	// as the policy it is.
	ignored := p.mode == "enforce" && tlsRequiredNoFrom(ctx)
	if ignored {
		a.log.Info("delivery: MTA-STS enforce policy "+tlsRequiredNoLog, "domain", domain, "policy_id", p.id)
	}
	var kept []hop
	for _, h := range hops {
		ok := p.matches(h.host)
		switch {
		case ignored:
			if !ok {
				a.log.Warn("delivery: MTA-STS enforce "+tlsRequiredNoLog+": MX host not in the policy; delivering anyway",
					"domain", domain, "host", h.host, "policy_id", p.id)
				tr.notInPolicy(h.host)
			}
			h.tls = tlsPolicy{report: true, ignored: true, sts: p.mode, domain: domain, trace: tr, rpt: rpt, rptNotInPolicy: !ok}
		case p.mode == "enforce" && ok:
			h.tls = tlsPolicy{mode: TLSVerify, sts: p.mode, domain: domain, trace: tr, rpt: rpt}
		case p.mode == "enforce":
			a.log.Warn("delivery: MTA-STS enforce: MX host not in the policy, skipped", "domain", domain, "host", h.host, "policy_id", p.id)
			a.policyFailed(ctx, rpt, rptValidationFailure, h.host, errMXNotInPolicy)
			continue
		default:
			if !ok {
				a.log.Warn("delivery: MTA-STS testing: MX host not in the policy, enforce mode would skip it; delivering anyway",
					"domain", domain, "host", h.host, "policy_id", p.id)
				tr.notInPolicy(h.host)
			}
			h.tls = tlsPolicy{report: true, sts: p.mode, domain: domain, trace: tr, rpt: rpt, rptNotInPolicy: !ok}
		}
		kept = append(kept, h)
	}
	if ignored {
		tr.policy(p.mode+" ("+tlsRequiredNoLog+")", false)
	} else {
		tr.policy(p.mode, len(kept) == 0)
	}
	if len(kept) == 0 {
		o := temporary(stsNoMX.With(domain + " policy " + p.id).Error())
		return nil, &o
	}
	return kept, nil
}

// stsPolicy returns domain's policy: the cached one while its TXT id is
// unchanged, else a fresh fetch. Failures fall back to the cached policy,
// or to none (RFC 8461 §5.1, §3.3). It returns nil for no policy, and the
// TXT lookup's or the fetch's failure, if any (REQUIRETLS retries on it
// rather than taking it as no policy). report counts a failed fetch in a
// TLS report.
func (a *Agent) stsPolicy(ctx context.Context, domain string, report bool) (*stsPolicy, error) {
	now := a.clock()
	cached := a.rt.sts.get(domain, now)
	id, err := a.stsRecord(ctx, domain)
	switch {
	case err != nil:
		a.log.Info("delivery: MTA-STS TXT lookup failed", "domain", domain, "err", err, "cached", cached != nil)
		return cached, fmt.Errorf("MTA-STS TXT lookup: %w", err)
	case id == "":
		return cached, nil
	case cached != nil && cached.id == id:
		return cached, nil
	}
	p, err := a.fetchSTS(ctx, domain)
	if err != nil {
		a.log.Warn("delivery: MTA-STS policy fetch failed", "domain", domain, "policy_id", id, "err", err, "cached", cached != nil)
		// RFC 8460 §4.3.2.2: the domain announced a policy this attempt
		// could not have.
		if report {
			a.policyFailed(ctx, stsRPTPolicy(domain, cached), stsFetchResult(err), "", err)
		}
		return cached, fmt.Errorf("MTA-STS policy fetch: %w", err)
	}
	p.id = id
	p.expires = now.Add(time.Duration(min(p.maxAgeSeconds, stsMaxAge)) * time.Second)
	a.rt.sts.put(domain, &p.stsPolicy, now)
	a.log.Info("delivery: MTA-STS policy fetched", "domain", domain, "policy_id", id, "mode", p.mode, "mx", p.mx, "expires", p.expires)
	return &p.stsPolicy, nil
}

// stsRecord returns the id of domain's _mta-sts TXT record (RFC 8461
// §3.1), or "" when there is none or more than one.
func (a *Agent) stsRecord(ctx context.Context, domain string) (string, error) {
	if a.dns == nil {
		return "", errors.New("no resolver configured")
	}
	txts, err := a.dns.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		if dnsresolve.IsNotFound(err) {
			return "", nil
		}
		return "", err
	}
	var ids []string
	for _, t := range txts {
		if id, ok := parseSTSRecord(t); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		return "", nil // §3.1: several records are no policy
	}
	return ids[0], nil
}

// parseSTSRecord reads "v=STSv1; id=20160831085700Z;" (RFC 8461 §3.1).
func parseSTSRecord(txt string) (id string, ok bool) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", false
	}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" && validSTSID(v) {
			id = v
		}
	}
	return id, id != ""
}

func validSTSID(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

type fetchedPolicy struct {
	stsPolicy
	maxAgeSeconds int
}

// fetchSTS gets https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461
// §3.3): a valid certificate, status 200, no redirects, text/plain.
func (a *Agent) fetchSTS(ctx context.Context, domain string) (*fetchedPolicy, error) {
	client := a.stsClient()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, &stsInvalid{fmt.Errorf("content type %q, want text/plain", resp.Header.Get("Content-Type"))}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxPolicy+1))
	if err != nil {
		return nil, err
	}
	if len(body) > stsMaxPolicy {
		return nil, &stsInvalid{errors.New("policy larger than 64 KiB")}
	}
	p, err := parseSTSPolicy(body)
	if err != nil {
		return nil, &stsInvalid{err}
	}
	return p, nil
}

// stsInvalid is a policy fetched that is not one (a TLS report's
// sts-policy-invalid, RFC 8460 §4.3.2.2), as opposed to one that could
// not be fetched.
type stsInvalid struct{ err error }

func (e *stsInvalid) Error() string { return e.err.Error() }
func (e *stsInvalid) Unwrap() error { return e.err }

// stsClient is the configured client, or one resolving through [dns]
// (httpsClient), made never to follow redirects.
func (a *Agent) stsClient() *http.Client {
	var c http.Client
	if a.rt.opt.STSClient != nil {
		c = *a.rt.opt.STSClient
	} else {
		c = httpsClient(a.rt.opt.RootCAs, httpsDialer{res: a.dns, dial: a.rt.opt.httpsDial})
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// parseSTSPolicy reads a policy body (RFC 8461 §3.2): "key: value" lines.
func parseSTSPolicy(b []byte) (*fetchedPolicy, error) {
	p := &fetchedPolicy{maxAgeSeconds: -1}
	var version string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		p.lines = append(p.lines, k+": "+v)
		switch k {
		case "version":
			version = v
		case "mode":
			p.mode = v
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad max_age %q", v)
			}
			p.maxAgeSeconds = n
		case "mx":
			p.mx = append(p.mx, strings.ToLower(strings.TrimSuffix(v, ".")))
		}
	}
	switch {
	case version != "STSv1":
		return nil, fmt.Errorf("version %q, want STSv1", version)
	case p.mode != "enforce" && p.mode != "testing" && p.mode != "none":
		return nil, fmt.Errorf("bad mode %q", p.mode)
	case p.maxAgeSeconds < 0:
		return nil, errors.New("no max_age")
	case len(p.mx) == 0 && p.mode != "none":
		return nil, errors.New("no mx")
	}
	return p, nil
}
