package dkim

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/sdk"
)

// The dkim results of RFC 8601 §2.7.1.
const (
	ResultPass      = "pass"
	ResultFail      = "fail"
	ResultNeutral   = "neutral"
	ResultTempError = "temperror"
	ResultPermError = "permerror"
	ResultNone      = "none"
	ResultPolicy    = "policy"
)

// verify checks every DKIM-Signature and reports one result per signature
// (RFC 8601 §2.7.1), or dkim=none for an unsigned message. A DKIM failure
// does not by itself refuse a message (RFC 6376 §6.3): the verdict is
// always Continue, and dmarc (or a filter) decides.
func (p *Plugin) verify(ctx context.Context, m *sdk.Message) (sdk.Verdict, error) {
	var sigs []tagList
	var at []int // the index in m.Headers of each of sigs
	for i, h := range m.Headers {
		if strings.EqualFold(h.Name, "DKIM-Signature") {
			sigs = append(sigs, parseTags(h.Value))
			at = append(at, i)
		}
	}
	if len(sigs) == 0 {
		return sdk.Verdict{
			Reason:      "dkim: no signature",
			AuthResults: []sdk.AuthResult{{Method: "dkim", Result: ResultNone, Reason: "message not signed"}},
		}, nil
	}
	sigs = sigs[:min(len(sigs), p.maxVerify)]
	// A signature too costly to verify gets a result of its own and is
	// kept from go-msgauth, with every signature beyond maxVerify, so that
	// go-msgauth's i-th verification is that of the i-th kept signature.
	refused := make([]string, len(sigs))
	var drop map[int]bool
	for i, s := range sigs {
		if refused[i] = overCost(s, len(m.Headers)); refused[i] != "" && drop == nil {
			drop = map[int]bool{}
			for _, j := range at[len(sigs):] {
				drop[j] = true
			}
		}
	}
	kept := 0
	for i := range sigs {
		if refused[i] != "" {
			drop[at[i]] = true
		} else {
			kept++
		}
	}
	verifs, keys, err := p.verifyKept(ctx, m, drop, kept)
	var out []sdk.AuthResult
	var summary []string
	k := 0
	for i, s := range sigs {
		var r sdk.AuthResult
		switch {
		case refused[i] != "":
			// RFC 8601 §2.7.1 policy: signed, but the signature is not
			// acceptable to the verifier.
			r = result(s, nil, ResultPolicy, refused[i])
		case err != nil:
			// Not a verdict about a signature: the message could not be read.
			r = result(s, nil, ResultTempError, err.Error())
		case k < len(verifs):
			v := verifs[k]
			k++
			res, reason := classify(v.Err)
			if res == ResultPass || res == ResultFail || res == ResultPermError {
				if weak := checkKeySize(v, s.get("s"), keys); weak != "" {
					res, reason = ResultPermError, weak
				}
			}
			if res == ResultPass {
				res, reason = checkKeyFlags(v, s.get("s"), keys)
			}
			r = result(s, v, res, reason)
		default:
			continue
		}
		out = append(out, r)
		summary = append(summary, r.Props["header.d"]+"="+r.Result)
	}
	if err != nil {
		return sdk.Verdict{Reason: "dkim: " + err.Error(), AuthResults: out}, nil
	}
	return sdk.Verdict{Reason: "dkim: " + strings.Join(summary, ", "), AuthResults: out}, nil
}

// verifyKept runs go-msgauth over m without the fields in drop, for its
// first n signatures (none when n is 0). The error is one reading the
// message, about no signature in particular.
func (p *Plugin) verifyKept(ctx context.Context, m *sdk.Message, drop map[int]bool, n int) ([]*msgdkim.Verification, *keyRecords, error) {
	keys := &keyRecords{}
	if n == 0 {
		return nil, keys, nil
	}
	if drop != nil {
		m = withoutFields(m, drop)
	}
	opts := &msgdkim.VerifyOptions{LookupTXT: p.lookupTXT(ctx, keys), MaxVerifications: n}
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(rawMessage(m)), opts)
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		return nil, keys, err
	}
	return verifs, keys, nil
}

// classify maps a go-msgauth verification error to an RFC 8601 result.
func classify(err error) (result, reason string) {
	switch {
	case err == nil:
		return ResultPass, ""
	case msgdkim.IsTempFail(err):
		return ResultTempError, trimPrefix(err)
	case msgdkim.IsPermFail(err):
		return ResultPermError, trimPrefix(err)
	case strings.Contains(err.Error(), "body length tag"):
		// A signature with l= covers only part of the body, and anything
		// appended after it is unsigned (RFC 6376 §8.2): we do not accept
		// such signatures, which is RFC 8601 §2.7.1's policy, "some aspect
		// of the signature was not acceptable", not evidence of tampering.
		return ResultPolicy, trimPrefix(err)
	default:
		return ResultFail, trimPrefix(err)
	}
}

func trimPrefix(err error) string { return strings.TrimPrefix(err.Error(), "dkim: ") }

// result builds one dkim AuthResult with the RFC 8601 §2.7.1 properties.
// The tags come from our own parse of the signature, so that a signature
// go-msgauth rejected early still names its domain and selector.
func result(tags tagList, v *msgdkim.Verification, res, reason string) sdk.AuthResult {
	props := map[string]string{}
	d := tags.get("d")
	if v != nil && v.Domain != "" {
		d = v.Domain
	}
	if d != "" {
		props["header.d"] = d
	}
	switch {
	case v != nil && v.Identifier != "" && tags.get("i") != "":
		props["header.i"] = v.Identifier
	case tags.get("i") != "":
		props["header.i"] = tags.get("i")
	case d != "":
		props["header.i"] = "@" + d // RFC 6376 §3.5: the default of i=
	}
	if s := tags.get("s"); s != "" {
		props["header.s"] = s
	}
	if a := tags.get("a"); a != "" {
		props["header.a"] = a
	}
	if b := tags.get("b"); b != "" {
		// RFC 6008 §4: enough of b= to tell signatures apart.
		props["header.b"] = b[:min(len(b), 8)]
	}
	return sdk.AuthResult{Method: "dkim", Result: res, Reason: reason, Props: props}
}

// checkKeyFlags applies what go-msgauth leaves out of a verification: the
// key record's t= flags (RFC 6376 §3.6.1). With t=s the i= domain must be
// d= itself, not a subdomain of it ("user@sub.example.org" under
// d=example.org passes go-msgauth's suffix check but not this key's).
// go-msgauth's Verification does not carry the key, so the record is the
// one our lookup answered it with for s._domainkey.d.
func checkKeyFlags(v *msgdkim.Verification, selector string, keys *keyRecords) (result, reason string) {
	rec, ok := keys.get(selector + "._domainkey." + v.Domain)
	if !ok {
		return ResultPass, ""
	}
	strictID := false
	for _, f := range strings.Split(parseTags(rec).get("t"), ":") {
		if strings.EqualFold(f, "s") {
			strictID = true
		}
	}
	if !strictID {
		return ResultPass, ""
	}
	id := v.Identifier
	if at := strings.LastIndexByte(id, '@'); at >= 0 {
		id = id[at+1:]
	}
	// Domain names compare without case (RFC 4343).
	if !strings.EqualFold(strings.TrimSuffix(id, "."), strings.TrimSuffix(v.Domain, ".")) {
		return ResultPermError, "key has t=s: the i= domain must be d= (RFC 6376 §3.6.1)"
	}
	return ResultPass, ""
}

// keyRecords keeps the key records looked up during one verification, by
// lowercased query name: go-msgauth verifies several signatures in
// parallel, each asking from its own goroutine.
type keyRecords struct {
	mu   sync.Mutex
	byQN map[string][]string
}

func (k *keyRecords) put(name string, txts []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byQN == nil {
		k.byQN = map[string][]string{}
	}
	k.byQN[strings.ToLower(strings.TrimSuffix(name, "."))] = txts
}

// get returns the record go-msgauth took as the key: a name with several
// TXT records has none (it refuses them, RFC 6376 §3.6.2.2).
func (k *keyRecords) get(name string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	txts := k.byQN[strings.ToLower(strings.TrimSuffix(name, "."))]
	if len(txts) != 1 {
		return "", false
	}
	return txts[0], true
}

// lookupTXT adapts the resolver to go-msgauth: a temporary DNS failure must
// be a net.Error whose Temporary() is true to become temperror; anything
// else (NXDOMAIN) is the permanent "no key". Answers are kept in keys.
func (p *Plugin) lookupTXT(ctx context.Context, keys *keyRecords) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := p.Resolver.LookupTXT(ctx, name)
		if err != nil && !dnsresolve.IsNotFound(err) {
			return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
		}
		if err == nil {
			keys.put(name, txts)
			if len(txts) == 1 && tooLarge(txts[0]) {
				return []string{revokedKey}, nil
			}
		}
		return txts, err
	}
}

// tagList is a parsed tag=value list (RFC 6376 §3.2), whitespace removed
// from the values.
type tagList map[string]string

func (t tagList) get(k string) string { return t[k] }

func parseTags(s string) tagList {
	out := tagList{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := out[k]; dup || k == "" {
			continue
		}
		out[k] = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, v)
	}
	return out
}
