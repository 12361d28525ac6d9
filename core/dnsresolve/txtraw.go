package dnsresolve

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// LookupTXTRaw is LookupTXT with each string decoded to the bytes the zone
// holds. miekg/dns hands TXT strings over in presentation form — `"` and
// `\` backslash-escaped, bytes outside printable ASCII as \DDD — which is
// right for a zone file but wrong for a policy parser: an SPF record with a
// stray control byte or a non-ASCII byte must be seen as it is to be
// refused (RFC 7208 §4.5, §12), not as harmless-looking escape text.
func (r *Resolver) LookupTXTRaw(ctx context.Context, name string) ([]string, error) {
	resp, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, s := range t.Txt {
				b.WriteString(unescapeTXT(s))
			}
			out = append(out, b.String())
		}
	}
	return out, nil
}

// unescapeTXT undoes miekg/dns's escaping of a character-string: \DDD is a
// byte in decimal, \X is X.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		if i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
			n := int(s[i]-'0')*100 + int(s[i+1]-'0')*10 + int(s[i+2]-'0')
			if n <= 255 {
				b = append(b, byte(n))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
