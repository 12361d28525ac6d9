package dmarc

import (
	"errors"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/internal/mailhdr"
)

// An ARC-Authentication-Results value (RFC 8617 §4.1.1) is "i=N;" and an
// Authentication-Results payload (RFC 8601 §2.2):
//
//	authres-payload = authserv-id [ CFWS authres-version ] ( no-result / 1*resinfo )
//	resinfo     = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
//	methodspec  = [CFWS] method [CFWS] "=" [CFWS] result
//	propspec    = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
//
// It is read by tokens, not split at every ';': a quoted reason or a
// comment may hold "; dmarc=pass header.from=bank.example", text of the
// sender's that a split would take for a result the sealer vouched for
// (go-msgauth's authres.Parse splits so, which is why it is not used).

// arResult is one resinfo: its method, result and properties (reason
// and ptype.property, names lower-cased, values as written).
type arResult struct {
	method, result string
	props          map[string]string
}

// arToken is a word (an atom or the text of a quoted-string) or one of
// the separators ';' and '='.
type arToken struct {
	sep  byte
	text string
}

var errARSyntax = errors.New("unterminated comment or quoted-string")

// arTokens splits v into words and separators, dropping comments (which
// nest, RFC 5322 §3.2.2) and folding white space. Words that touch, as
// the quoted local-part and the "@domain" of a pvalue, are one word.
func arTokens(v string) ([]arToken, error) {
	var out []arToken
	joined := false // the last token is a word the next one touches
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
			joined = false
		case c == '(':
			end := mailhdr.CommentEnd(v, i)
			if end < 0 {
				return nil, errARSyntax
			}
			i = end
			joined = false
		case c == '=' && joined && len(out) >= 2 && out[len(out)-2].sep == '=':
			// A value's own '=', base64 padding as in an unquoted
			// header.b=Ab/c+d= that some sealers write.
			out[len(out)-1].text += "="
			i++
		case c == ';' || c == '=':
			out = append(out, arToken{sep: c})
			i++
			joined = false
		default:
			var w strings.Builder
			if c == '"' {
				for i++; i < len(v) && v[i] != '"'; i++ {
					if v[i] == '\\' && i+1 < len(v) {
						i++
					} else if v[i] == '\r' || v[i] == '\n' {
						// Folding inside the quoted string: its CRLF
						// is not part of the value (RFC 5322 §3.2.2,
						// unfolding), its white space is.
						continue
					}
					w.WriteByte(v[i])
				}
				if i >= len(v) {
					return nil, errARSyntax
				}
				i++
			} else {
				for ; i < len(v) && !strings.ContainsRune(" \t\r\n();=\"", rune(v[i])); i++ {
					w.WriteByte(v[i])
				}
			}
			if joined {
				out[len(out)-1].text += w.String()
			} else {
				out = append(out, arToken{text: w.String()})
			}
			joined = true
		}
	}
	return out, nil
}

// parseAAR reads an ARC-Authentication-Results value: its instance and
// its results. A resinfo that does not read as method=result followed by
// name=value pairs is left out, so that no result is made of it.
func parseAAR(v string) (int, []arResult, error) {
	toks, err := arTokens(v)
	if err != nil {
		return 0, nil, err
	}
	var groups [][]arToken
	start := 0
	for i, t := range toks {
		if t.sep == ';' {
			groups = append(groups, toks[start:i])
			start = i + 1
		}
	}
	groups = append(groups, toks[start:])
	// The first group is i=N (§4.1.1), the second the authserv-id and
	// its version.
	if len(groups) < 2 {
		return 0, nil, errors.New("no authserv-id")
	}
	inst := groups[0]
	if len(inst) != 3 || inst[0].text != "i" || inst[1].sep != '=' || inst[2].sep != 0 {
		return 0, nil, errors.New("no i= first")
	}
	n, err := strconv.Atoi(inst[2].text)
	if err != nil || n < 1 || strings.HasPrefix(inst[2].text, "+") {
		return 0, nil, errors.New("bad i=")
	}
	var out []arResult
	for _, g := range groups[2:] {
		if r, ok := resinfo(g); ok {
			out = append(out, r)
		}
	}
	return n, out, nil
}

// resinfo reads one method=result with its properties. A property given
// twice leaves the result unread: which one the sealer meant is unknown.
func resinfo(g []arToken) (arResult, bool) {
	if len(g) == 0 || len(g)%3 != 0 {
		return arResult{}, false
	}
	pair := func(i int) (string, string, bool) {
		ok := g[i].sep == 0 && g[i+1].sep == '=' && g[i+2].sep == 0
		return strings.ToLower(g[i].text), g[i+2].text, ok
	}
	method, result, ok := pair(0)
	if !ok {
		return arResult{}, false
	}
	// method [ "/" version ] (RFC 8601 §2.2).
	method, _, _ = strings.Cut(method, "/")
	r := arResult{method: method, result: strings.ToLower(result), props: map[string]string{}}
	for i := 3; i < len(g); i += 3 {
		k, val, ok := pair(i)
		if _, dup := r.props[k]; !ok || dup {
			return arResult{}, false
		}
		r.props[k] = val
	}
	return r, true
}
