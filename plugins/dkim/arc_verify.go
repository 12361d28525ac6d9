package dkim

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// The signing algorithms of ARC: RFC 8617 §4.1.2 and §4.1.3 take a=
// from DKIM, whose algorithms are rsa-sha256 (RFC 6376 §3.3; rsa-sha1 is
// no longer to be used, RFC 8301 §3.1) and ed25519-sha256 (RFC 8463 §3).
const (
	algRSA     = "rsa-sha256"
	algEd25519 = "ed25519-sha256"
)

// arcAlgorithmOf checks a signature's a=.
func arcAlgorithmOf(tags tagList) (string, error) {
	switch a := strings.ToLower(tags.get("a")); a {
	case algRSA, algEd25519:
		return a, nil
	default:
		return "", fmt.Errorf("a=%s: want %s or %s", a, algRSA, algEd25519)
	}
}

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
	alg, err := arcAlgorithmOf(tags)
	if err != nil {
		return err
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
	return c.checkSignature(tags, alg, data.String())
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
	alg, err := arcAlgorithmOf(tags)
	if err != nil {
		return err
	}
	return c.checkSignature(tags, alg, sealData(chain.sets[:i], nil))
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

// checkSignature verifies b= over data, signed with alg, with the key at
// s._domainkey.d. Both algorithms sign the SHA-256 hash of data: RSA as
// RSASSA-PKCS1-v1_5 (RFC 6376 §3.3.1), Ed25519 as PureEdDSA over the 32
// octets of the hash (RFC 8463 §3), as go-msgauth and dkimpy verify it.
func (c *arcCheck) checkSignature(tags tagList, alg, data string) error {
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
	sum := sha256.Sum256([]byte(data))
	valid := false
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		if alg != algRSA {
			return fmt.Errorf("a=%s with the k=rsa key at %s", alg, name)
		}
		valid = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		if alg != algEd25519 {
			return fmt.Errorf("a=%s with the k=ed25519 key at %s", alg, name)
		}
		valid = ed25519.Verify(pub, sum[:], sig)
	}
	if !valid {
		return errors.New("signature did not verify")
	}
	return nil
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
