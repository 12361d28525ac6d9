package main

import (
	"net/mail"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// The rules that keep a responder quiet, from RFC 3834 §2, Sieve
// vacation (RFC 5230 §4.5, §4.6) and Postfix's vacation(1). Each returns
// why no reply goes out, or "".

// senderRule: no reply to the null sender (a bounce, another auto-reply,
// RFC 3834 §2) nor to the addresses of mailing list software and mailer
// daemons that RFC 5230 §4.6 suggests, nor to the recipient herself (any
// of her addresses, RFC 5230 §4.5).
func senderRule(sender string, r *responder, sep string) string {
	if sender == "" {
		return "null sender"
	}
	if r.owns(sender, sep) {
		return "sent by the responder itself"
	}
	local := sender
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		local = sender[:i]
	}
	local = strings.ToLower(strings.Trim(local, `"`))
	// A VERP sender (Mailman's list-bounces+bob=example.org@...) is
	// judged by what comes before its "+".
	local, _, _ = strings.Cut(local, "+")
	switch {
	case local == "mailer-daemon", local == "listserv", local == "majordomo",
		strings.HasPrefix(local, "owner-"), strings.HasSuffix(local, "-request"),
		strings.HasSuffix(local, "-bounces"):
		return "sender " + sender + " is automated"
	}
	return ""
}

// headerRule: no reply to what says it is automatic (Auto-Submitted other
// than "no", RFC 3834 §2, §5), to mailing list traffic (List-* fields,
// RFC 2369 and RFC 2919, and Precedence bulk, junk or list, RFC 5230
// §4.6), nor where Exchange's X-Auto-Response-Suppress asks for none.
func headerRule(m *sdk.Message) string {
	for _, h := range m.Headers {
		name := strings.ToLower(h.Name)
		v := strings.ToLower(strings.TrimSpace(unfold(h.Value)))
		switch {
		case name == "auto-submitted":
			// The keyword may be followed by parameters and comments.
			kw, _, _ := strings.Cut(v, ";")
			kw, _, _ = strings.Cut(kw, "(")
			if strings.TrimSpace(kw) != "no" {
				return "Auto-Submitted: " + v
			}
		case strings.HasPrefix(name, "list-"):
			return h.Name + " (list mail)"
		case name == "precedence" && (v == "bulk" || v == "junk" || v == "list"):
			return "Precedence: " + v
		case name == "x-auto-response-suppress":
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f == "all" || f == "oof" {
					return "X-Auto-Response-Suppress: " + v
				}
			}
		}
	}
	return ""
}

// addressedFields are where the responder's address must appear for a
// reply (RFC 5230 §4.5): mail that reached it by Bcc, an alias or a list
// is not addressed to it in person.
var addressedFields = []string{"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"}

// addressedRule: RFC 5230 §4.5 says vacation MUST NOT respond unless one
// of the recipient's addresses (r.owns: hers, her addresses, either with
// a +detail) is in one of addressedFields.
func addressedRule(m *sdk.Message, r *responder, sep string) string {
	owns := func(a string) bool { return r.owns(a, sep) }
	for _, h := range m.Headers {
		name := strings.ToLower(h.Name)
		for _, f := range addressedFields {
			if name == f && containsAddr(unfold(h.Value), owns) {
				return ""
			}
		}
	}
	return "not addressed to " + r.address + " in To or Cc"
}

// containsAddr reports whether the address list v names an address owns
// takes. A list net/mail cannot parse (a broken display name) is searched
// for the address as a token between the usual separators.
func containsAddr(v string, owns func(string) bool) bool {
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			if owns(a.Address) {
				return true
			}
		}
		return false
	}
	for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" \t,;:<>()\"", r) }) {
		if strings.Contains(tok, "@") && owns(tok) {
			return true
		}
	}
	return false
}

// unfold removes the folding of a header value (RFC 5322 §2.2.3).
func unfold(v string) string {
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
}
