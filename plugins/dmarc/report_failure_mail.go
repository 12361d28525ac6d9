package dmarc

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// failureReport is one failure report, everything it says taken from the
// transaction at the data hook.
type failureReport struct {
	failureCase
	from         string // the report's From
	mailFrom     string
	envID        string // the DSN ENVID, "" when none or not printable
	sourceIP     string
	authResults  string // an Authentication-Results value
	delivery     string // Delivery-Result
	arrival      time.Time
	original     []byte // the header fields, or the whole message
	wholeMessage bool
	dkimDomain   string
	dkimSelector string
	dkimIdentity string
}

// envIDText is an ENVID as it may stand in a field: xtext (RFC 3461
// §4.4) is printable US-ASCII, at most 100 characters.
var envIDText = regexp.MustCompile(`^[!-~]{1,100}$`)

// newFailureReport takes what the report of fc says from the hook's
// transaction and message, copying it: the SDK may reuse their buffers
// once the hook has returned.
func newFailureReport(fc failureCase, t *sdk.Txn, m *sdk.Message, action sdk.Action, now time.Time, cfg FailureReportsConfig, authservID string) *failureReport {
	fr := &failureReport{
		failureCase: fc,
		from:        cfg.From,
		mailFrom:    t.Envelope.MailFrom,
		sourceIP:    t.Session.ClientIP,
		delivery:    deliveryResult(action),
		arrival:     now,
	}
	fr.ruf = append([]string(nil), fc.ruf...)
	if id := t.Envelope.MailParams["ENVID"]; envIDText.MatchString(id) {
		fr.envID = id
	}
	if fc.dkim != nil {
		fr.dkimDomain, fr.dkimSelector, fr.dkimIdentity = fc.dkim.Props["header.d"], fc.dkim.Props["header.s"], fc.dkim.Props["header.i"]
		if fr.dkimIdentity == "" {
			fr.dkimIdentity = "@" + fr.dkimDomain // RFC 6376 §3.5: the default of i=
		}
		fr.dkim = nil
	}
	results := append(append([]sdk.AuthResult(nil), t.AuthResults...), fc.dmarc)
	fr.authResults = authResultsText(authservID, results)
	var b bytes.Buffer
	for _, h := range m.Headers {
		if len(h.Raw) > 0 {
			b.Write(h.Raw)
		} else {
			b.WriteString(h.Name + ": " + h.Value)
		}
		b.WriteString("\r\n")
	}
	if cfg.IncludeBody && m.Body != nil {
		b.WriteString("\r\n")
		b.Write(m.Body)
		fr.wholeMessage = true
	}
	fr.original = b.Bytes()
	return fr
}

// deliveryResult is RFC 6591 §3.1's Delivery-Result for what the stage
// decided: a quarantined message is held, not delivered ("policy").
func deliveryResult(a sdk.Action) string {
	switch a {
	case sdk.ActionReject:
		return "reject"
	case sdk.ActionQuarantine, sdk.ActionDiscard:
		return "policy"
	}
	return "delivered"
}

// message is the report (RFC 7489 §7.3, RFC 6591, RFC 5965 §2): a
// multipart/report of a human-readable part, the machine-readable
// message/feedback-report with Feedback-Type auth-failure, and the
// original's header fields (text/rfc822-headers) or, with include_body,
// the whole message (message/rfc822). Auto-Submitted (RFC 3834 §5) keeps
// vacation replies from answering it.
func (fr *failureReport) message(to []string) []byte {
	boundary := "dmarc-failure-" + randomHex() + randomHex()
	var b bytes.Buffer
	field := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	field("From", "<"+fr.from+">")
	field("To", "<"+strings.Join(to, ">,\r\n\t<")+">")
	field("Subject", "DMARC failure report for "+printable(fr.domain))
	field("Date", fr.arrival.Format(time.RFC1123Z))
	field("Message-ID", "<"+randomHex()+".dmarc-failure@"+addrDomain(fr.from)+">")
	field("Auto-Submitted", "auto-generated")
	field("MIME-Version", "1.0")
	field("Content-Type", "multipart/report; report-type=feedback-report;\r\n\tboundary=\""+boundary+"\"")
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	field("Content-Type", "text/plain; charset=us-ascii")
	field("Content-Transfer-Encoding", "7bit")
	b.WriteString("\r\nThis is a DMARC failure report (RFC 7489 section 7.3) about a message\r\n" +
		"with a From domain of " + printable(fr.domain) + ", received from " + printable(fr.sourceIP) + "\r\n" +
		"on " + fr.arrival.UTC().Format(time.RFC1123Z) + ". DMARC result: " + printable(fr.dmarc.Result) + ".\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	field("Content-Type", "message/feedback-report")
	field("Content-Transfer-Encoding", "7bit")
	b.WriteString("\r\n")
	field("Feedback-Type", "auth-failure")
	field("User-Agent", "Sluice-dmarc")
	field("Version", "1")
	field("Original-Mail-From", "<"+printable(fr.mailFrom)+">")
	if fr.envID != "" {
		field("Original-Envelope-Id", fr.envID)
	}
	field("Arrival-Date", fr.arrival.Format(time.RFC1123Z))
	if fr.sourceIP != "" {
		field("Source-IP", printable(fr.sourceIP))
	}
	field("Reported-Domain", printable(fr.domain))
	field("Authentication-Results", fr.authResults)
	field("Auth-Failure", "dmarc")
	alignment := "none"
	if len(fr.aligned) > 0 {
		alignment = strings.Join(fr.aligned, ", ")
	}
	field("Identity-Alignment", alignment)
	field("Delivery-Result", fr.delivery)
	if fr.dkimDomain != "" {
		field("DKIM-Domain", printable(fr.dkimDomain))
		if fr.dkimSelector != "" {
			field("DKIM-Selector", printable(fr.dkimSelector))
		}
		if fr.dkimIdentity != "" {
			field("DKIM-Identity", printable(fr.dkimIdentity))
		}
	}

	b.WriteString("\r\n--" + boundary + "\r\n")
	if fr.wholeMessage {
		field("Content-Type", "message/rfc822")
	} else {
		field("Content-Type", "text/rfc822-headers")
	}
	cte := "7bit"
	if bytes.ContainsFunc(fr.original, func(r rune) bool { return r >= 0x80 }) {
		cte = "8bit"
	}
	field("Content-Transfer-Encoding", cte)
	b.WriteString("\r\n")
	b.Write(fr.original)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}

// RFC 5322 §2.1.1: a line is at most 998 characters. The values a
// report takes from the client (a DKIM-Signature's d=, s= and i=, its
// MAIL FROM) and from other stages have no such bound, so each is cut.
const (
	// maxFieldValue bounds a field's value, whatever the field's name.
	maxFieldValue = 900
	// maxPValue bounds an Authentication-Results pvalue before quoting,
	// which at most doubles it, and maxPName a method, result or
	// property name.
	maxPValue = 400
	maxPName  = 64
	// arFoldAt is where an Authentication-Results line is folded before
	// the next property (RFC 5322 §2.1.1's 78).
	arFoldAt = 78
)

// printable is s with what a 7bit field may not carry (control
// characters, non-ASCII) as '?', cut at maxFieldValue: the values come
// from the client (its From domain, its MAIL FROM) and from other
// stages.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
	return s[:min(len(s), maxFieldValue)]
}

// authResultsText renders results as an Authentication-Results value
// (RFC 8601 §2.2), one result a line, folded before a property that
// would take the line past arFoldAt: the checks the message went
// through, as the report's Authentication-Results field (RFC 6591 §3.1).
func authResultsText(authservID string, results []sdk.AuthResult) string {
	var b strings.Builder
	b.WriteString(authservID)
	line := 0 // the length of the current line
	word := func(w string) {
		if line+1+len(w) > arFoldAt {
			b.WriteString("\r\n\t")
			line = 1
		} else {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	n := 0
	for _, r := range results {
		method, result := arKeyword(r.Method), arKeyword(r.Result)
		if method == "" || result == "" || len(method) > maxPName || len(result) > maxPName {
			continue
		}
		n++
		spec := strings.ToLower(method) + "=" + strings.ToLower(result)
		b.WriteString(";\r\n\t" + spec)
		line = 1 + len(spec)
		if r.Reason != "" {
			word("reason=" + arValue(r.Reason))
		}
		keys := make([]string, 0, len(r.Props))
		for k := range r.Props {
			if arKeyword(k) == k && k != "" && len(k) <= maxPName {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			word(k + "=" + arValue(r.Props[k]))
		}
	}
	if n == 0 {
		b.WriteString("; none")
	}
	return b.String()
}

// arKeyword keeps the characters of RFC 8601's method, result and
// property names: a stage's text goes into a header field.
func arKeyword(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			return c
		}
		return -1
	}, s)
}

// arBare is a pvalue that needs no quoting: a token or an address of
// token characters (RFC 8601 §2.2).
var arBare = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `{|}~-]*@?[A-Za-z0-9.-]+$`)

// arValue is v as a pvalue: bare when it may be, else a quoted-string.
func arValue(v string) string {
	v = printable(v)
	v = v[:min(len(v), maxPValue)]
	if arBare.MatchString(v) {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}
