package dkim

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/sdk"
)

// arcAlgorithm is the one signing algorithm of ARC (RFC 8617 §4.1.2,
// §4.1.3 take a= from RFC 6376, and the ARC registry has only it).
const arcAlgorithm = "rsa-sha256"

// arcOutcome is the validation of a message's ARC chain.
type arcOutcome struct {
	present bool   // the message has ARC fields
	cv      string // none, pass or fail (RFC 8617 §5.2)
	reason  string
	// topFail: the newest AS already says cv=fail, so the chain ended
	// upstream (RFC 8617 §5.1 step 1: nothing is to be added to it).
	topFail bool
	// temporary: the chain failed on a DNS failure worth retrying, not
	// on what the message says.
	temporary  bool
	oldestPass int      // header.oldest-pass, on pass
	chain      arcChain // the sets, when well formed
}

// arcCheck is one validation: the message, and the body hashes and keys
// already computed, so that 50 sets by one sealer cost one lookup.
type arcCheck struct {
	p      *Plugin
	ctx    context.Context
	m      *sdk.Message
	bodies map[bool][]byte
	keys   map[string]keyAnswer
}

type keyAnswer struct {
	pub *rsa.PublicKey
	err error
}

// errTempKey marks a key lookup that failed for a reason other than the
// key's absence.
var errTempKey = errors.New("temporary DNS failure")

// validateARC runs RFC 8617 §5.2 over m.
func (p *Plugin) validateARC(ctx context.Context, m *sdk.Message) arcOutcome {
	chain, present, topFail, err := collectARC(m)
	if !present {
		return arcOutcome{cv: cvNone}
	}
	out := arcOutcome{present: true, cv: cvFail, topFail: topFail}
	if err != nil {
		out.reason = err.Error()
		return out
	}
	out.chain = chain
	n := len(chain.sets)
	c := &arcCheck{p: p, ctx: ctx, m: m, bodies: map[bool][]byte{}, keys: map[string]keyAnswer{}}
	// Step 4: the newest AMS.
	if err := c.checkAMS(chain.sets[n-1]); err != nil {
		out.reason, out.temporary = fmt.Sprintf("ARC-Message-Signature i=%d: %v", n, err), errors.Is(err, errTempKey)
		return out
	}
	// Step 5: oldest-pass, the oldest instance from which every AMS
	// still validates; 0 when all do.
	oldest := 0
	for i := n - 1; i >= 1; i-- {
		if c.checkAMS(chain.sets[i-1]) != nil {
			oldest = i + 1
			break
		}
	}
	// Step 6: every AS, newest first.
	for i := n; i >= 1; i-- {
		if err := c.checkAS(chain, i); err != nil {
			out.reason, out.temporary = fmt.Sprintf("ARC-Seal i=%d: %v", i, err), errors.Is(err, errTempKey)
			return out
		}
	}
	out.cv, out.oldestPass = cvPass, oldest
	return out
}

// checkAMS verifies one ARC-Message-Signature: a DKIM signature over the
// fields h= names and the body, itself hashed last with b= empty (RFC
// 8617 §4.1.2, RFC 6376 §3.7).
func (c *arcCheck) checkAMS(s arcSet) error {
	tags := s.amsTags
	for _, k := range []string{"a", "b", "bh", "d", "h", "s"} {
		if tags.get(k) == "" {
			return fmt.Errorf("no %s= tag", k)
		}
	}
	if a := strings.ToLower(tags.get("a")); a != arcAlgorithm {
		return fmt.Errorf("a=%s: want %s", a, arcAlgorithm)
	}
	if _, ok := tags["l"]; ok {
		// As for DKIM (classify): a signature over part of the body
		// leaves what follows it unsigned (RFC 6376 §8.2).
		return errors.New("l= signs part of the body only: not accepted")
	}
	hr, br, err := arcCanonicalization(tags.get("c"))
	if err != nil {
		return err
	}
	names := strings.Split(tags.get("h"), ":")
	for _, n := range names {
		if strings.EqualFold(strings.TrimSpace(n), fieldAS) {
			return errors.New("h= names ARC-Seal (RFC 8617 §4.1.2)")
		}
	}
	bh, ok := c.bodies[br]
	if !ok {
		bh = bodyHash(c.m.Body, br)
		c.bodies[br] = bh
	}
	want, err := base64.StdEncoding.DecodeString(tags.get("bh"))
	if err != nil || subtle.ConstantTimeCompare(want, bh) != 1 {
		return errors.New("body hash did not verify")
	}
	var data strings.Builder
	for _, f := range pickFields(c.m.Headers, names) {
		data.WriteString(canonHeader(fieldText(f), hr))
		data.WriteString("\r\n")
	}
	data.WriteString(canonHeader(withEmptyB(fieldText(*s.ams)), hr))
	return c.checkSignature(tags, data.String())
}

// checkAS verifies the ARC-Seal of instance i: a signature over the ARC
// Sets 1..i in order, each AAR, AMS, AS, the last AS with b= empty, all
// relaxed (RFC 8617 §5.1.1 and §4.1.3).
func (c *arcCheck) checkAS(chain arcChain, i int) error {
	tags := chain.sets[i-1].asTags
	for _, k := range []string{"a", "b", "cv", "d", "s"} {
		if tags.get(k) == "" {
			return fmt.Errorf("no %s= tag", k)
		}
	}
	if _, ok := tags["h"]; ok {
		return errors.New("h= in an ARC-Seal (RFC 8617 §4.1.3)")
	}
	if a := strings.ToLower(tags.get("a")); a != arcAlgorithm {
		return fmt.Errorf("a=%s: want %s", a, arcAlgorithm)
	}
	return c.checkSignature(tags, sealData(chain.sets[:i], nil))
}

// sealData is what an AS signs: the sets in order, each AAR, AMS and AS
// relaxed, the last AS with b= empty and without its CRLF. last, when not
// nil, stands for the last set's AS field (a seal being made).
func sealData(sets []arcSet, last *sdk.Header) string {
	var b strings.Builder
	for k, s := range sets {
		as := s.as
		if k == len(sets)-1 && last != nil {
			as = last
		}
		for _, f := range []*sdk.Header{s.aar, s.ams} {
			b.WriteString(canonHeader(fieldText(*f), true))
			b.WriteString("\r\n")
		}
		if k < len(sets)-1 {
			b.WriteString(canonHeader(fieldText(*as), true))
			b.WriteString("\r\n")
		} else {
			b.WriteString(canonHeader(withEmptyB(fieldText(*as)), true))
		}
	}
	return b.String()
}

// arcCanonicalization reads an AMS's c=: header/body, each simple or
// relaxed; simple/simple when absent, a lone word simple for the body
// (RFC 6376 §3.5).
func arcCanonicalization(c string) (header, body bool, err error) {
	if c == "" {
		return false, false, nil
	}
	hs, bs, ok := strings.Cut(strings.ToLower(c), "/")
	if !ok {
		bs = "simple"
	}
	parse := func(s string) (bool, error) {
		switch s {
		case "simple":
			return false, nil
		case "relaxed":
			return true, nil
		}
		return false, fmt.Errorf("c=%s: unknown canonicalization", c)
	}
	if header, err = parse(hs); err != nil {
		return
	}
	body, err = parse(bs)
	return
}

// checkSignature verifies b= over data with the key at s._domainkey.d.
func (c *arcCheck) checkSignature(tags tagList, data string) error {
	sig, err := base64.StdEncoding.DecodeString(tags.get("b"))
	if err != nil {
		return errors.New("b= is not base64")
	}
	name := strings.ToLower(tags.get("s") + "._domainkey." + strings.TrimSuffix(tags.get("d"), "."))
	k, ok := c.keys[name]
	if !ok {
		k.pub, k.err = c.p.arcKey(c.ctx, name)
		c.keys[name] = k
	}
	if k.err != nil {
		return k.err
	}
	pub := k.pub
	sum := sha256.Sum256([]byte(data))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return errors.New("signature did not verify")
	}
	return nil
}

// arcKey fetches an RSA key record as DKIM does (RFC 6376 §3.6.2.2: one
// TXT record at s._domainkey.d; RFC 8301 §3.2: 1024 bits at least).
func (p *Plugin) arcKey(ctx context.Context, name string) (*rsa.PublicKey, error) {
	txts, err := p.Resolver.LookupTXT(ctx, name)
	switch {
	case err != nil && dnsresolve.IsNotFound(err):
		return nil, fmt.Errorf("no key at %s", name)
	case err != nil:
		return nil, fmt.Errorf("key at %s: %w: %v", name, errTempKey, err)
	case len(txts) != 1:
		return nil, fmt.Errorf("%d key records at %s: want one", len(txts), name)
	}
	tags := parseTags(txts[0])
	if v := tags.get("v"); v != "" && v != "DKIM1" {
		return nil, fmt.Errorf("key at %s: v=%s", name, v)
	}
	if k := tags.get("k"); k != "" && k != "rsa" {
		return nil, fmt.Errorf("key at %s: k=%s, want rsa", name, k)
	}
	// RFC 6376 §3.6.1: h= lists the hash algorithms the key may sign
	// with, s= the services it is for; each is a colon-separated list.
	if h, ok := tags["h"]; ok && !hasFlag(h, "sha256") {
		return nil, fmt.Errorf("key at %s: h=%s, not sha256", name, h)
	}
	if sv, ok := tags["s"]; ok && !hasFlag(sv, "email") && !hasFlag(sv, "*") {
		return nil, fmt.Errorf("key at %s: s=%s, not for email", name, sv)
	}
	if p := tags.get("p"); p == "" {
		return nil, fmt.Errorf("key at %s: no usable p=", name)
	}
	pub := rsaKeyOf(tags)
	if pub == nil {
		return nil, fmt.Errorf("key at %s: not an RSA key", name)
	}
	if why := rsaSizeError(pub); why != "" {
		return nil, fmt.Errorf("key at %s: %s", name, why)
	}
	return pub, nil
}

// arcResult is the arc method's Authentication-Results entry (RFC 8617
// §10.1: header.oldest-pass and smtp.remote-ip), or false for a message
// without ARC fields: its dkim=none already says it came unsigned, and a
// line of arc=none on every message says nothing more.
func arcResult(o arcOutcome, clientIP string) (sdk.AuthResult, bool) {
	if !o.present {
		return sdk.AuthResult{}, false
	}
	r := sdk.AuthResult{Method: "arc", Result: o.cv, Reason: o.reason, Props: map[string]string{}}
	if clientIP != "" {
		r.Props["smtp.remote-ip"] = clientIP
	}
	if o.cv == cvPass {
		r.Props["header.oldest-pass"] = strconv.Itoa(o.oldestPass)
	}
	return r, true
}

// hasFlag reports whether the colon-separated list has f, without case.
func hasFlag(list, f string) bool {
	for _, x := range strings.Split(list, ":") {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}
