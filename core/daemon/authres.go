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
	return msg.RemoveFields(func(name, value string) bool {
		if !strings.EqualFold(name, "Authentication-Results") {
			return false
		}
		id := strings.TrimSpace(value)
		if i := strings.IndexAny(id, "; \t\r\n"); i >= 0 {
			id = id[:i]
		}
		return strings.EqualFold(id, authservID)
	})
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

// quoteValue leaves a token or mailbox bare and quotes anything else
// (RFC 8601 §2.2 value = token / quoted-string).
func quoteValue(v string) string {
	bare := v != ""
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".@_+-/=:", c)) {
			bare = false
			break
		}
	}
	if bare {
		return v
	}
	v = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", " ", "\n", " ").Replace(v)
	return `"` + v + `"`
}
