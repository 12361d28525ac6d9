package daemon

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/authres"
	"github.com/sluice-mta/sluice/sdk"
)

// FuzzAuthservID reads the authserv-id of hostile Authentication-Results
// values, as dropForgedAuthResults does before it keeps or drops one: an
// id written behind any comment (which nests and escapes, RFC 5322
// §3.2.2) and folding, as a token or as a quoted-string (§3.2.4), reads
// as that id, so a forger cannot hide ours behind a comment or quotes;
// and the field the core writes itself reads back as its own id.
func FuzzAuthservID(f *testing.F) {
	f.Add("mx.example.org; spf=pass", "mx.example.org", "comment")
	f.Add(`(a (nested \) one)) "mx.example.org" ; none`, `q"u\ote`, `((`)
	f.Add("\r\n\t(x)mx;dkim=fail", "MX.Example.Org.", `\`)
	f.Add(`"unterminated`, "", ")")
	f.Fuzz(func(t *testing.T, v, id, comment string) {
		if got, ok := parseAuthservID(v); ok && got == "" && !strings.Contains(v, `"`) {
			t.Errorf("parseAuthservID(%q) = empty token, ok", v)
		}
		esc := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(comment)
		if authres.IsToken(id) && id != "" {
			if got, ok := parseAuthservID(authres.Value(id, []sdk.AuthResult{{Method: "spf", Result: "pass"}})); !ok || got != id {
				t.Errorf("own field for %q reads as %q, %v", id, got, ok)
			}
			in := " (" + esc + ")\r\n\t" + id + ";none"
			if got, ok := parseAuthservID(in); !ok || got != id {
				t.Errorf("parseAuthservID(%q) = %q, %v; want %q", in, got, ok, id)
			}
		}
		if strings.ContainsAny(id, "\r\n") {
			return // a quoted-string's folding is not part of it
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(id) + `"`
		in := "(" + esc + ") " + quoted + "; spf=pass"
		if got, ok := parseAuthservID(in); !ok || got != id {
			t.Errorf("parseAuthservID(%q) = %q, %v; want %q", in, got, ok, id)
		}
	})
}
