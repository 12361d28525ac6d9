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
	for _, r := range results {
		b.WriteString(";\r\n\t")
		b.WriteString(strings.ToLower(r.Method))
		b.WriteByte('=')
		b.WriteString(strings.ToLower(r.Result))
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
			b.WriteByte(' ')
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(quoteValue(r.Props[k]))
		}
	}
	return b.String()
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
