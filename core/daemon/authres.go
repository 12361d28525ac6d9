package daemon

import (
	"strings"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/authres"
)

// Authentication-Results (RFC 8601): the core writes one header per
// message, merged from every authentication stage's structured results
// (internal/authres writes its value).

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
	for j < len(v) && authres.IsTokenChar(v[j]) {
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
