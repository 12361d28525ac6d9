// Package authres writes the value of an Authentication-Results field
// (RFC 8601 §2.2): one formatter for the core, which writes its own
// Authentication-Results, and the dkim plugin, whose ARC sealer copies
// the same text into ARC-Authentication-Results (RFC 8617 §4.1.1).
package authres

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/sdk"
)

// Value renders the field's value: "authserv-id; method=result
// ptype.prop=value ...; ..." folded one method per line.
func Value(authservID string, results []sdk.AuthResult) string {
	var b strings.Builder
	b.WriteString(authservID)
	if len(results) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	n := 0
	for _, r := range results {
		method, result := keyword(r.Method), keyword(r.Result)
		if method == "" || result == "" || len(method) > maxName || len(result) > maxName {
			continue // a plugin's nonsense is no result
		}
		n++
		// The method's pieces: method=result, reason=, each property; a
		// long line is folded only between them (fold).
		pieces := []string{strings.ToLower(method) + "=" + strings.ToLower(result)}
		if r.Reason != "" {
			pieces = append(pieces, "reason="+quoteValue(cut(r.Reason, maxReason)))
		}
		keys := make([]string, 0, len(r.Props))
		for k := range r.Props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if keyword(k) != k || k == "" || len(k) > maxName {
				continue
			}
			pieces = append(pieces, k+"="+quoteValue(cut(r.Props[k], maxProp)))
		}
		b.WriteString(";\r\n\t")
		b.WriteString(fold(pieces))
	}
	if n == 0 {
		b.WriteString("; none")
	}
	return b.String()
}

// The bounds of what a plugin's result puts on one line: RFC 5322 §2.1.1
// allows 998 characters a line, and a milter's or plugin's reason of some
// hundreds of characters, or a result of many properties, went past it.
const (
	maxReason = 400 // bytes of a reason= kept
	maxProp   = 256 // bytes of a property's value kept (a mailbox is at most 254)
	maxName   = 64  // a longer method, result or ptype.property name is dropped
	foldAt    = 900 // a method's line longer than this is folded
)

// cut is s cut to at most n bytes, at a UTF-8 character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fold joins a method's pieces with spaces, breaking the line between
// them into lines of at most 78 characters (RFC 5322 §2.1.1's should) where
// pieces allow, but only a line over foldAt: the usual lines of a few
// hundred characters stay as they were. It never breaks inside a piece:
// white space inside a quoted-string is folding white space (RFC 5322
// §3.2.4), but a run of it made lines of only white space, and readers
// that keep a quoted-string's text as written would read the CRLF. A piece
// is at most some 810 characters (a quoted reason of maxReason bytes, each
// escaped), so no line passes 998.
func fold(pieces []string) string {
	line := strings.Join(pieces, " ")
	if len(line) <= foldAt {
		return line
	}
	var b strings.Builder
	n := 1 // the tab Value folds before it
	for i, p := range pieces {
		if i > 0 {
			if n+1+len(p) > 78 {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(p)
		n += len(p)
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
	if IsToken(v) || isAddrValue(v) {
		return v
	}
	v = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", " ", "\n", " ").Replace(v)
	return `"` + v + `"`
}

// IsTokenChar reports whether c is an RFC 2045 §5.1 token character:
// any US-ASCII CHAR except SPACE, CTLs and tspecials.
func IsTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// IsToken reports whether s is a non-empty RFC 2045 §5.1 token.
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !IsTokenChar(s[i]) {
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
			if !IsToken(atom) {
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
