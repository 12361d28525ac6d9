package dmarc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/sdk"
)

// A forwarder (a mailing list, an alias) breaks the SPF and often the
// DKIM of the mail it passes on, and DMARC then fails for the author's
// domain. RFC 7489 §6.7 lets a receiver's local policy accept such mail,
// and RFC 8617 §7.2.1 gives it the evidence: the ARC Set a forwarder
// added says what it found when the message reached it. As Gmail,
// Microsoft's "trusted ARC sealers" and rspamd do, a failing message is
// let through when its ARC chain validated (the dkim stage's arc=pass)
// and a sealer the operator trusts recorded dmarc=pass for the author
// domain in its ARC-Authentication-Results. The aggregate report says
// so with PolicyOverrideType trusted_forwarder (RFC 7489 Appendix C).

// sealerSet reads arc_trusted_sealers: domains as ARC-Seal d= names them,
// compared as lower-case A-labels. A sealer is trusted by its exact
// domain, as Microsoft's list is: a subdomain is another party's seal.
func sealerSet(list []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, s := range list {
		d := normalize(s)
		if !dnsresolve.IsHostName(d) {
			return nil, fmt.Errorf("arc_trusted_sealers: %q is not a domain name", s)
		}
		out[d] = true
	}
	return out, nil
}

// vouch is an ARC Set of a trusted sealer whose results count: its
// instance, its sealer and the domains it recorded dmarc=pass for.
type vouch struct {
	instance int
	sealer   string
	pass     map[string]bool
}

// forwarders are the trusted ARC Sets of a message, the newest first.
type forwarders []vouch

// vouchFor finds the newest trusted set that saw dmarc pass for domain.
func (f forwarders) vouchFor(domain string) (vouch, bool) {
	for _, v := range f {
		if v.pass[domain] {
			return v, true
		}
	}
	return vouch{}, false
}

// override is the trusted_forwarder reason of the aggregate report.
func (v vouch) override() overrideReason {
	return overrideReason{Type: "trusted_forwarder", Comment: fmt.Sprintf("arc=pass, sealer %s i=%d saw dmarc=pass", v.sealer, v.instance)}
}

// trustedForwarders finds the ARC Sets of trusted sealers whose results
// may stand in for DMARC here. The chain must have validated as a whole
// (an arc=pass of an earlier stage and no arc=fail): only then did each
// ARC-Seal verify, the one over a sealer's ARC-Authentication-Results
// among them, so that the results are the sealer's own. The set must
// also be at or after header.oldest-pass, its ARC-Message-Signature
// still verifying (RFC 8617 §5.2 step 5): a message changed after the
// trusted sealer saw it is not the message it vouched for. Any doubt
// about which set is which — a field of an instance given twice, an
// ARC-Seal with a tag given twice (the verifier reads the first, another
// reader might not) — gives no trusted set.
func (p *Plugin) trustedForwarders(results []sdk.AuthResult, m *sdk.Message) forwarders {
	if len(p.sealers) == 0 {
		return nil
	}
	passed, oldest := false, 0
	for _, r := range results {
		if r.Method != "arc" {
			continue
		}
		if !strings.EqualFold(r.Result, "pass") {
			return nil
		}
		n, err := strconv.Atoi(r.Props["header.oldest-pass"])
		if r.Props["header.oldest-pass"] != "" && (err != nil || n < 0) {
			return nil
		}
		passed, oldest = true, max(oldest, n)
	}
	if !passed {
		return nil
	}
	seals, aars := map[int]string{}, map[int]string{}
	for _, h := range m.Headers {
		switch {
		case strings.EqualFold(h.Name, "ARC-Seal"):
			tags, ok := sealTags(h.Value)
			if !ok {
				return nil
			}
			i, err := strconv.Atoi(tags["i"])
			if _, dup := seals[i]; err != nil || dup || strings.HasPrefix(tags["i"], "+") {
				return nil
			}
			seals[i] = normalize(tags["d"])
		case strings.EqualFold(h.Name, "ARC-Authentication-Results"):
			i, _, err := parseAAR(h.Value)
			if _, dup := aars[i]; err != nil || dup {
				return nil
			}
			aars[i] = h.Value
		}
	}
	top := 0
	for i := range seals {
		top = max(top, i)
	}
	var out forwarders
	for i := top; i >= 1 && i >= oldest; i-- {
		if !p.sealers[seals[i]] || aars[i] == "" {
			continue
		}
		_, res, _ := parseAAR(aars[i])
		v := vouch{instance: i, sealer: seals[i], pass: map[string]bool{}}
		fail := map[string]bool{}
		for _, r := range res {
			if r.method != "dmarc" {
				continue
			}
			d := normalize(addrDomain(r.props["header.from"]))
			if r.result == ResultPass {
				v.pass[d] = true
			} else {
				fail[d] = true
			}
		}
		// A set that says both for a domain says nothing.
		for d := range fail {
			delete(v.pass, d)
		}
		out = append(out, v)
	}
	return out
}

// sealTags reads an ARC-Seal's tag list (RFC 6376 §3.2, as RFC 8617
// §4.1.3 takes it), values without white space; false when a tag is
// given twice.
func sealTags(v string) (map[string]string, bool) {
	out := map[string]string{}
	for part := range strings.SplitSeq(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := out[k]; dup {
			return nil, false
		}
		out[k] = strings.Join(strings.Fields(val), "")
	}
	return out, true
}
