package dkim

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"

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
)

// verify checks every DKIM-Signature and reports one result per signature
// (RFC 8601 §2.7.1), or dkim=none for an unsigned message. A DKIM failure
// does not by itself refuse a message (RFC 6376 §6.3): the verdict is
// always Continue, and dmarc (or a filter) decides.
func (p *Plugin) verify(ctx context.Context, m *sdk.Message) (sdk.Verdict, error) {
	var sigs []tagList
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "DKIM-Signature") {
			sigs = append(sigs, parseTags(h.Value))
		}
	}
	if len(sigs) == 0 {
		return sdk.Verdict{
			Reason:      "dkim: no signature",
			AuthResults: []sdk.AuthResult{{Method: "dkim", Result: ResultNone, Reason: "message not signed"}},
		}, nil
	}
	opts := &msgdkim.VerifyOptions{LookupTXT: p.lookupTXT(ctx), MaxVerifications: p.maxVerify}
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(rawMessage(m)), opts)
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		// Not a verdict about a signature: the message could not be read.
		var out []sdk.AuthResult
		for _, s := range sigs[:min(len(sigs), p.maxVerify)] {
			out = append(out, result(s, nil, ResultTempError, err.Error()))
		}
		return sdk.Verdict{Reason: "dkim: " + err.Error(), AuthResults: out}, nil
	}
	var out []sdk.AuthResult
	var summary []string
	for i, v := range verifs {
		tags := tagList{}
		if i < len(sigs) {
			tags = sigs[i]
		}
		res, reason := classify(v.Err)
		r := result(tags, v, res, reason)
		out = append(out, r)
		summary = append(summary, r.Props["header.d"]+"="+res)
	}
	return sdk.Verdict{Reason: "dkim: " + strings.Join(summary, ", "), AuthResults: out}, nil
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
		// A signature with l= covers only part of the body; we do not
		// trust it, but it is no evidence of tampering (RFC 6376 §8.2).
		return ResultNeutral, trimPrefix(err)
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

// lookupTXT adapts the resolver to go-msgauth: a temporary DNS failure must
// be a net.Error whose Temporary() is true to become temperror; anything
// else (NXDOMAIN) is the permanent "no key".
func (p *Plugin) lookupTXT(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := p.Resolver.LookupTXT(ctx, name)
		if err != nil && !dnsresolve.IsNotFound(err) {
			return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
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
