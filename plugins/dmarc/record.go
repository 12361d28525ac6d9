package dmarc

import (
	"strconv"
	"strings"
)

// Policy is a DMARC policy (RFC 7489 §6.3, p= and sp=).
type Policy string

// The policies.
const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// Record is a DMARC record (RFC 7489 §6.3): the tags that decide a
// message's fate, and those that aggregate reports need (rua, and fo
// and ri as published, for the report's policy_published; ruf and fo
// for failure reports). rf is not kept: AFRF (RFC 6591), its default
// and only registered format, is the one failure reports are sent in.
type Record struct {
	Policy          Policy
	SubdomainPolicy Policy // "" when sp= is absent: p applies
	StrictDKIM      bool   // adkim=s
	StrictSPF       bool   // aspf=s
	Percent         int    // pct, 0–100
	// RUA and RUF are the URIs of rua= and ruf= as written, a "!size"
	// limit kept (RFC 7489 §6.4: "mailto:a@example.org!10m").
	RUA, RUF []string
	FO       string // fo=, "0" when absent (§6.3)
	Interval int    // ri= in seconds, 86400 when absent or invalid
}

// parseError says why a TXT record is not a usable DMARC record.
type parseError string

func (e parseError) Error() string { return string(e) }

// ParseRecord parses a DMARC TXT record. It returns an error for a record
// that does not start with v=DMARC1 or that DMARC must ignore. A record
// with a missing or bad p= (or bad sp=) but a rua= is read as p=none, as
// RFC 7489 §6.6.3 step 6 asks; unknown tags are ignored (§6.3).
func ParseRecord(txt string) (*Record, error) {
	parts := strings.Split(txt, ";")
	// §6.3: v= MUST be the first tag.
	if k, v, _ := strings.Cut(parts[0], "="); strings.TrimSpace(k) != "v" || strings.TrimSpace(v) != "DMARC1" {
		return nil, parseError("not a DMARC1 record")
	}
	tags := map[string]string{}
	for _, part := range parts[1:] {
		k, v, ok := strings.Cut(part, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			continue
		}
		if _, dup := tags[k]; !dup {
			tags[k] = strings.TrimSpace(v)
		}
	}
	r := &Record{Percent: 100}
	p, okP := parsePolicy(tags["p"])
	sp, okSP := parsePolicy(tags["sp"])
	if _, has := tags["sp"]; !has {
		okSP = true
	}
	if !okP || !okSP {
		if strings.TrimSpace(tags["rua"]) == "" {
			return nil, parseError("record without a valid p= (or with a bad sp=) and no rua=")
		}
		p, sp = PolicyNone, ""
	}
	r.Policy, r.SubdomainPolicy = p, sp
	r.StrictDKIM = strings.EqualFold(tags["adkim"], "s")
	r.StrictSPF = strings.EqualFold(tags["aspf"], "s")
	if n, ok := parsePercent(tags["pct"]); ok {
		r.Percent = n
	}
	r.RUA, r.RUF = uriList(tags["rua"]), uriList(tags["ruf"])
	r.FO, r.Interval = "0", 86400
	if fo := tags["fo"]; fo != "" {
		r.FO = fo
	}
	if n, err := strconv.ParseUint(tags["ri"], 10, 31); err == nil && n > 0 {
		r.Interval = int(n)
	}
	return r, nil
}

// uriList splits a rua= or ruf= value into its URIs: comma-separated,
// with optional spaces around each comma (RFC 7489 §6.4: a comma inside
// a URI is percent-encoded).
func uriList(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// parsePercent reads a pct value: 1*3DIGIT (RFC 7489 §6.4) from 0 to 100
// (§6.3). Anything else ("-5", "250", "half", "+50") is a syntax error,
// which §6.3 says SHOULD be discarded in favour of the default, 100: the
// policy applies to every failing message. An invalid pct never turns
// the policy off, as reading "-5" as 0 would. (OpenDMARC refuses a
// record with a pct out of range as a whole, so it applies no policy at
// all; the RFC keeps the rest of the record.)
func parsePercent(v string) (int, bool) {
	if len(v) == 0 || len(v) > 3 || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > 100 {
		return 0, false
	}
	return n, true
}

func parsePolicy(s string) (Policy, bool) {
	switch p := Policy(strings.ToLower(strings.TrimSpace(s))); p {
	case PolicyNone, PolicyQuarantine, PolicyReject:
		return p, true
	}
	return "", false
}
