package route

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/sdk"
)

// Header rewriting: sender_canonical and masquerade_domains apply to the
// addresses of the sender fields too, Postfix's header_sender class
// (canonical_classes, sender_canonical_classes and masquerade_classes
// have it by default), and masquerade_domains to those of the recipient
// fields, its header_recipient class (masquerade_classes has it by
// default; sender_canonical_maps never rewrites them, canonical_maps,
// which the stage has no counterpart of, would), but only in mail from
// the site's own clients: a relay_networks client (sluice sendmail
// submits from loopback) or an AUTH user. Postfix rewrites the headers of
// local clients' mail alone (local_header_rewrite_clients,
// permit_inet_interfaces by default) and, with
// remote_header_rewrite_domain empty as it is by default, none of other
// mail; a From changed in mail from elsewhere would also break the
// sender's DKIM signature. The envelope recipients are not masqueraded:
// envelope_recipient is not in masquerade_classes by default.

// senderFields are the fields Postfix's header_opts mark HDR_OPT_SENDER,
// lowercased.
var senderFields = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "resent-from": true, "resent-sender": true,
	"return-path": true, "errors-to": true, "return-receipt-to": true,
	"disposition-notification-to": true, "mail-followup-to": true,
}

// recipientFields are the fields header_opts mark HDR_OPT_RECIP (alone or
// in HDR_OPT_XRECIP), lowercased: Resent-Reply-To is one of them there,
// and so here.
var recipientFields = map[string]bool{
	"to": true, "cc": true, "bcc": true, "apparently-to": true,
	"resent-to": true, "resent-cc": true, "resent-bcc": true, "resent-reply-to": true,
}

// fieldRewrite returns how the addresses of the field named name
// (lowercased) are rewritten, or nil for a field the stage leaves alone:
// a sender field as the envelope sender is, masqueraded with
// header_sender in masquerade_classes; a recipient field masqueraded
// alone, with header_recipient (cleanup_rewrite_recip).
func (p *Plugin) fieldRewrite(name string) func(string) string {
	switch {
	case senderFields[name]:
		return func(a string) string { return p.rewriteAddr(a, true, p.rw.classes.hdrSender) }
	case recipientFields[name] && p.rw.classes.hdrRecip && len(p.rw.masq) > 0:
		return func(a string) string { return p.rewriteAddr(a, false, true) }
	}
	return nil
}

// ownClient reports whether the transaction's headers are the site's to
// rewrite.
func ownClient(s sdk.Session) bool { return s.RelayClient || s.AuthUser != "" }

// headerEdits rewrites the addresses of m's sender and recipient fields
// (fieldRewrite), each field changed only where an address is, and says
// what it did for the trace. A field that is no address list, or whose
// bytes were not UTF-8 (the plugin sees U+FFFD for them, and writing the
// value back would keep those), is left as it is.
func (p *Plugin) headerEdits(m *sdk.Message) ([]sdk.Edit, []string) {
	var edits []sdk.Edit
	var why []string
	seen := map[string]int{}
	for _, h := range m.Headers {
		name := strings.ToLower(h.Name)
		seen[name]++
		rewrite := p.fieldRewrite(name)
		if rewrite == nil {
			continue
		}
		if h.Raw != nil && !utf8.Valid(h.Raw) {
			continue
		}
		spans, ok := addrSpecs(h.Value)
		if !ok {
			if anyRewritten(h.Value, rewrite) {
				why = append(why, fmt.Sprintf("%s: left as it is (not an address list that can be rewritten in place)", h.Name))
			}
			continue
		}
		var b strings.Builder
		last := 0
		for _, s := range spans {
			old := h.Value[s.start:s.end]
			n := rewrite(old)
			if n == old {
				continue
			}
			b.WriteString(h.Value[last:s.start])
			b.WriteString(n)
			last = s.end
			why = append(why, fmt.Sprintf("%s: %s → %s", h.Name, old, n))
		}
		if last == 0 {
			continue
		}
		b.WriteString(h.Value[last:])
		edits = append(edits, sdk.ChangeHeader{Name: h.Name, Occurrence: seen[name], Value: b.String()})
	}
	return edits, why
}

// anyRewritten reports whether v, a field that does not parse, seems to
// hold an address that would have been rewritten, so that the trace
// says why it was not: each white-space separated word with an "@",
// its angle brackets taken off.
func anyRewritten(v string, rewrite func(string) string) bool {
	for _, w := range strings.Fields(v) {
		w = strings.Trim(w, "<>,;")
		if strings.Contains(w, "@") && rewrite(w) != w {
			return true
		}
	}
	return false
}
