package daemon

import (
	"sort"
	"strings"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// Authentication-Results (RFC 8601): the core writes one header per
// message, merged from every authentication stage's structured results.

// dropForgedAuthResults removes incoming Authentication-Results fields that
// claim our authserv-id: only we may speak for it (RFC 8601 §5).
func dropForgedAuthResults(msg *pipeline.Message, authservID string) int {
	ours := normalizeAuthservID(authservID)
	return msg.RemoveFields(func(name, value string) bool {
		if !strings.EqualFold(name, "Authentication-Results") {
			return false
		}
		id, ok := parseAuthservID(value)
		return ok && normalizeAuthservID(id) == ours
	})
}

// normalizeAuthservID is id as authserv-ids compare: without case (it is
// normally a host name, RFC 8601 §2.5) and without one trailing dot, as
// a fully qualified name may be written with or without the root.
func normalizeAuthservID(id string) string {
	return strings.ToLower(strings.TrimSuffix(id, "."))
}

// parseAuthservID reads the authserv-id at the start of an
// Authentication-Results value (RFC 8601 §2.2):
//
//	authres-header-field = "Authentication-Results:" authserv-id
//	                       [ CFWS authres-version ] ( no-result / 1*resinfo ) CRLF
//	authserv-id = value                  ; [CFWS] ( token / quoted-string ) [CFWS]
//
// Comments (which nest, RFC 5322 §3.2.2) and folding white space around
// it are skipped and a quoted-string is unquoted, so that `(x) "id";`
// claims id as surely as `id;` does. ok is false when there is no id.
func parseAuthservID(v string) (id string, ok bool) {
	i := skipCFWS(v, 0)
	if i >= len(v) {
		return "", false
	}
	if v[i] == '"' {
		var b strings.Builder
		for i++; i < len(v); i++ {
			switch c := v[i]; c {
			case '"':
				return b.String(), true
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '\r', '\n':
				// Folding inside a quoted-string is not part of it (RFC
				// 5322 §3.2.4): unfold to the white space that follows.
			default:
				b.WriteByte(c)
			}
		}
		// Unterminated: ill-formed, but a lax reader may take it as the
		// id; it goes if it names ours.
		return b.String(), true
	}
	j := i
	for j < len(v) && isTokenChar(v[j]) {
		j++
	}
	return v[i:j], j > i
}

// skipCFWS returns the index of the first byte at or after i that is
// neither folding white space nor inside a comment (RFC 5322 §3.2.2).
// Comments nest, and a quoted-pair inside one escapes a parenthesis.
func skipCFWS(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0:
			i++ // the quoted character, whatever it is
		case depth > 0:
		default:
			return i
		}
	}
	return i
}

// authResultsValue renders the field's value: "authserv-id; method=result
// ptype.prop=value ...; ..." folded one method per line.
func authResultsValue(authservID string, results []sdk.AuthResult) string {
	var b strings.Builder
	b.WriteString(authservID)
	if len(results) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	n := 0
	for _, r := range results {
		method, result := keyword(r.Method), keyword(r.Result)
		if method == "" || result == "" {
			continue // a plugin's nonsense is no result
		}
		n++
		b.WriteString(";\r\n\t")
		b.WriteString(strings.ToLower(method))
		b.WriteByte('=')
		b.WriteString(strings.ToLower(result))
		if r.Reason != "" {
			b.WriteString(" reason=")
			b.WriteString(quoteValue(r.Reason))
		}
		keys := make([]string, 0, len(r.Props))
		for k := range r.Props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if keyword(k) != k || k == "" {
				continue
			}
			b.WriteByte(' ')
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(quoteValue(r.Props[k]))
		}
	}
	if n == 0 {
		b.WriteString("; none")
	}
	return b.String()
}

// keyword is s with only the characters of RFC 8601's method, result and
// ptype.property names (letters, digits, '-', '.', '_'): what plugins
// report goes into a header field, where a CR, LF or ';' would forge one.
func keyword(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			return c
		}
		return -1
	}, s)
}

// quoteValue writes v as an RFC 8601 §2.2 pvalue:
//
//	pvalue = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
//	value  = token / quoted-string       ; RFC 2045 §5.1
//
// A token (no space, control or tspecial; a header.b of base64 may have
// '/' or '=', a reason ':') or a mailbox (smtp.mailfrom=user@example.org,
// header.i=@example.org) stays bare; anything else is quoted.
func quoteValue(v string) string {
	if isToken(v) || isAddrValue(v) {
		return v
	}
	v = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", " ", "\n", " ").Replace(v)
	return `"` + v + `"`
}

// isTokenChar: RFC 2045 §5.1 token characters, any US-ASCII CHAR except
// SPACE, CTLs and tspecials.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// isAddrValue reports whether s is RFC 8601's [ [ local-part ] "@" ]
// domain-name with an "@": a local-part left bare only as a dot-string
// of token characters (RFC 5321 §4.1.2 Dot-string, narrowed so that a
// reader splitting at '=' or '/' cannot misread it; an SRS address is
// quoted), and a domain-name of letter-digit-hyphen labels (RFC 6376
// §3.5, RFC 5321 §4.1.2 sub-domain).
func isAddrValue(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local != "" {
		for _, atom := range strings.Split(local, ".") {
			if !isToken(atom) {
				return false
			}
		}
	}
	if domain == "" {
		return false
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
