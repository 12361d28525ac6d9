package dmarc

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// The history: each evaluation of a domain that asks for aggregate
// reports is one JSON line in StateDir/history-YYYY-MM-DD.jsonl (the UTC
// day), appended with one write under a mutex and never synced, as
// opendmarc's HistoryFile: a crash loses at most the lines the kernel had
// not written, and a report is a statistic.

// historyRow is one evaluation as an aggregate report counts it (RFC 7489
// Appendix C): the row, identifiers and auth_results of a record, with
// the policy and destinations the domain published.
type historyRow struct {
	SourceIP     string           `json:"ip"`
	HeaderFrom   string           `json:"header_from"`
	EnvelopeFrom string           `json:"envelope_from"`
	EnvelopeTo   string           `json:"envelope_to,omitempty"`
	Policy       policyPublished  `json:"policy"`
	RUA          []string         `json:"rua"`
	Disposition  Policy           `json:"disposition"`
	DKIM         string           `json:"dkim"` // aligned DKIM: pass or fail
	SPF          string           `json:"spf"`  // aligned SPF: pass or fail
	Reasons      []overrideReason `json:"reasons,omitempty"`
	DKIMResults  []dkimResult     `json:"dkim_results,omitempty"`
	SPFResults   []spfResult      `json:"spf_results,omitempty"`
}

// policyPublished is the record as the report shows it (PolicyPublishedType).
type policyPublished struct {
	Domain string `json:"domain" xml:"domain"`
	ADKIM  string `json:"adkim" xml:"adkim"`
	ASPF   string `json:"aspf" xml:"aspf"`
	P      Policy `json:"p" xml:"p"`
	SP     Policy `json:"sp" xml:"sp"`
	Pct    int    `json:"pct" xml:"pct"`
	FO     string `json:"fo" xml:"fo"`
}

// overrideReason says why the disposition is not the policy
// (PolicyOverrideReason): sampled_out for pct, local_policy for the
// stage's own settings.
type overrideReason struct {
	Type    string `json:"type" xml:"type"`
	Comment string `json:"comment,omitempty" xml:"comment,omitempty"`
}

// dkimResult and spfResult are the checks of the stages before, as they
// reported them (DKIMAuthResultType, SPFAuthResultType).
type dkimResult struct {
	Domain   string `json:"domain" xml:"domain"`
	Selector string `json:"selector,omitempty" xml:"selector,omitempty"`
	Result   string `json:"result" xml:"result"`
}

type spfResult struct {
	Domain string `json:"domain" xml:"domain"`
	Scope  string `json:"scope" xml:"scope"`
	Result string `json:"result" xml:"result"`
}

// newHistoryRow is the row of domain's evaluation under rec, found at
// the policy domain at; the disposition is set by dispose, the session's
// part by record.
func newHistoryRow(domain, at string, rec *Record, results []sdk.AuthResult) *historyRow {
	mode := func(strict bool) string {
		if strict {
			return "s"
		}
		return "r"
	}
	sp := rec.SubdomainPolicy
	if sp == "" {
		sp = rec.Policy // §6.3: sp absent, p applies to subdomains
	}
	row := &historyRow{
		HeaderFrom: domain,
		Policy: policyPublished{Domain: at, ADKIM: mode(rec.StrictDKIM), ASPF: mode(rec.StrictSPF),
			P: rec.Policy, SP: sp, Pct: rec.Percent, FO: rec.FO},
		RUA:  rec.RUA,
		DKIM: ResultFail,
		SPF:  ResultFail,
	}
	spfProp := spfIdentity(results)
	for _, r := range results {
		res := strings.ToLower(r.Result)
		switch r.Method {
		case "dkim":
			d := normalize(r.Props["header.d"])
			if d == "" {
				// No signature to speak of (the dkim stage's "none" for
				// an unsigned message, a signature without d=): RFC 7489
				// Appendix C has a dkim result per signature, with its
				// domain, and none when there is no signature.
				continue
			}
			row.DKIMResults = append(row.DKIMResults, dkimResult{Domain: d, Selector: r.Props["header.s"], Result: oneOf(res, dkimResults)})
			if res == "pass" && d != "" && align(domain, d, rec.StrictDKIM) {
				row.DKIM = ResultPass
			}
		case "spf":
			for _, prop := range []string{"smtp.mailfrom", "smtp.helo"} {
				v, ok := r.Props[prop]
				if !ok {
					continue
				}
				d := normalize(addrDomain(v))
				scope := "mfrom"
				if prop == "smtp.helo" {
					scope = "helo"
				}
				row.SPFResults = append(row.SPFResults, spfResult{Domain: d, Scope: scope, Result: oneOf(res, spfResults)})
				if prop == spfProp && res == "pass" && d != "" && align(domain, d, rec.StrictSPF) {
					row.SPF = ResultPass
				}
				break
			}
		}
	}
	return row
}

// The results the report's schema takes; another (a plugin's own word)
// is reported as none.
var (
	dkimResults = []string{"none", "pass", "fail", "policy", "neutral", "temperror", "permerror"}
	spfResults  = []string{"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"}
)

func oneOf(v string, set []string) string {
	for _, s := range set {
		if v == s {
			return v
		}
	}
	return "none"
}

// dispose sets what was done with the message: a nil row (no report due)
// takes nothing.
func (r *historyRow) dispose(dis Policy, why []overrideReason) {
	if r != nil {
		r.Disposition, r.Reasons = dis, why
	}
}

// record appends rows to today's history with the transaction's part:
// the client's address, the envelope's domains. A write that fails is
// logged; the message goes on.
func (r *reporter) record(t *sdk.Txn, rows []*historyRow) {
	ip := reportIP(t.Session.ClientIP)
	// RFC 7489 Appendix C: envelope_from is the RFC5321.MailFrom domain;
	// for a null sender, the HELO name SPF checked in its place.
	from := t.Envelope.MailFrom
	if from == "" {
		from = t.Session.Helo
	}
	from = normalize(addrDomain(from))
	// envelope_to is one domain: given when every recipient is in it.
	var to string
	for i, rc := range t.Envelope.Rcpts {
		d := normalize(addrDomain(rc.Addr))
		if i > 0 && d != to {
			to = ""
			break
		}
		to = d
	}
	var b []byte
	for _, row := range rows {
		row.SourceIP, row.EnvelopeFrom, row.EnvelopeTo = ip, from, to
		if len(row.SPFResults) == 0 {
			// The schema has at least one spf result: none, for the
			// identity SPF would have checked.
			row.SPFResults = []spfResult{{Domain: from, Scope: "mfrom", Result: "none"}}
		}
		line, err := json.Marshal(row)
		if err != nil {
			r.log.Error("dmarc reports: encoding a history line", "err", err)
			continue
		}
		b = append(append(b, line...), '\n')
	}
	if len(b) == 0 {
		return
	}
	now := r.clock()
	day := now.UTC().Format(dayLayout)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteDaySize(day)
	if !r.historyRoom(day, int64(len(b)), now) {
		return
	}
	if err := appendFile(r.historyPath(day), b); err != nil {
		r.log.Error("dmarc reports: writing the history", "err", err)
		return
	}
	r.histBytes += int64(len(b))
	r.histDaySize += int64(len(b))
}

// appendFile writes b at the end of path in one write. A file that does
// not end in a newline (a crash cut its last line short) gets one first:
// appended to the torn line, b's first line would not read either.
func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if fi, serr := f.Stat(); serr == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, rerr := f.ReadAt(last, fi.Size()-1); rerr == nil && last[0] != '\n' {
			b = append([]byte{'\n'}, b...)
		}
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *reporter) historyPath(day string) string {
	return filepath.Join(r.dir, "history-"+day+".jsonl")
}

// reportIP writes the client's address as the schema's IPAddress pattern
// takes it: dotted IPv4 (an IPv4-mapped address unmapped), IPv6 as eight
// groups, uncompressed (RFC 4291 §2.2 form 1), which the pattern requires.
func reportIP(s string) string {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	a := ip.As16()
	var g []string
	for i := 0; i < 16; i += 2 {
		g = append(g, fmt.Sprintf("%x", uint16(a[i])<<8|uint16(a[i+1])))
	}
	return strings.Join(g, ":")
}
