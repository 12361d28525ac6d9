// Package mimeparam reads the parameters of a MIME header field
// (Content-Type, Content-Disposition) as mail clients read them.
package mimeparam

import (
	"bytes"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/emersion/go-message/charset"
)

// The parameters of Content-Type and Content-Disposition are read here,
// not by mime.ParseMediaType, which fails where a mail client does not:
// one malformed parameter ("boundary=b; junk") makes it return no
// parameters at all, so the boundary is lost (the filter's attachment
// rules saw no part of such a multipart, an executable included; the
// delivery's 8-bit downgrade sent its parts unconverted); and an RFC 2231
// value in any charset but UTF-8 or US-ASCII
// (filename*=iso-8859-1''factur%E9.exe) it drops without a word, so the
// part had no file name.

// Params are the parameters of a header field value, by lowercased
// name. A parameter written in RFC 2231 form (name*, name*0, name*0*, …)
// is kept apart from a plain one of the same name, as a client may show
// either: Get returns the RFC 2231 one first.
type Params struct {
	plain map[string]string
	ext   map[string]string // RFC 2231 values, continuations joined and decoded
}

// Get returns the parameter's value, the RFC 2231 form preferred
// (RFC 2231 §4: a client that understands it uses it).
func (p Params) Get(name string) string {
	if v := p.ext[name]; v != "" {
		return v
	}
	return p.plain[name]
}

// All returns the distinct non-empty values the parameter has: its
// RFC 2231 form and its plain form, when they differ.
func (p Params) All(name string) []string {
	var out []string
	for _, v := range []string{p.ext[name], p.plain[name]} {
		if v != "" && (len(out) == 0 || out[0] != v) {
			out = append(out, v)
		}
	}
	return out
}

// rfc2231Segment is one piece of an RFC 2231 parameter (§3, §4).
type rfc2231Segment struct {
	index   int
	encoded bool // name*N*: percent-encoded, the first with charset'language'
	value   string
}

// Parse reads the parameters after the first ";" of v (RFC 2045
// §5.1, RFC 2183 §2) leniently: a parameter that does not parse is
// skipped and the next one still read; an unquoted value runs to the
// next ";"; an unterminated quoted string runs to the end; white space
// around "=" is allowed. The first occurrence of a name wins.
func Parse(v string) Params {
	p := Params{plain: map[string]string{}}
	_, rest, ok := strings.Cut(v, ";")
	if !ok {
		return p
	}
	segs := map[string][]rfc2231Segment{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t;")
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 || rest[eq] == ';' {
			// No "=" before the next ";": no parameter, skip it.
			if eq < 0 {
				break
			}
			rest = rest[eq:]
			continue
		}
		// Junk before a parameter with no ";" between them ("x name=a.exe")
		// is skipped: the key is the last word before the "=".
		key := ""
		if f := strings.Fields(rest[:eq]); len(f) > 0 {
			key = strings.ToLower(f[len(f)-1])
		}
		var value string
		value, rest = paramValue(strings.TrimLeft(rest[eq+1:], " \t"))
		if key == "" || strings.Contains(key, `"`) {
			continue
		}
		base, seg, isExt := splitExtKey(key)
		if !isExt {
			if _, dup := p.plain[key]; !dup {
				p.plain[key] = value
			}
			continue
		}
		seg.value = value
		segs[base] = append(segs[base], seg)
	}
	for name, s := range segs {
		if p.ext == nil {
			p.ext = map[string]string{}
		}
		p.ext[name] = joinRFC2231(s)
	}
	return p
}

// paramValue reads a value, quoted or not, from the start of s and
// returns it with what follows it.
func paramValue(s string) (string, string) {
	if !strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s, ';')
		if end < 0 {
			end = len(s)
		}
		return strings.TrimSpace(s[:end]), s[end:]
	}
	// RFC 5322 §3.2.4 quoted-string; "\" quotes the next character.
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			rest := s[i+1:]
			if end := strings.IndexByte(rest, ';'); end >= 0 {
				return b.String(), rest[end:]
			}
			return b.String(), ""
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// splitExtKey tells an RFC 2231 key (name*, name*N, name*N*) from a
// plain one and returns its name and segment.
func splitExtKey(key string) (string, rfc2231Segment, bool) {
	base, suffix, ok := strings.Cut(key, "*")
	if !ok || base == "" {
		return key, rfc2231Segment{}, false
	}
	if suffix == "" {
		return base, rfc2231Segment{encoded: true}, true // name*
	}
	num, star := strings.CutSuffix(suffix, "*")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || n > maxParamSegments {
		return key, rfc2231Segment{}, false
	}
	return base, rfc2231Segment{index: n, encoded: star}, true
}

// maxParamSegments bounds the RFC 2231 continuations of one parameter
// that are read; a file name does not need more.
const maxParamSegments = 999

// joinRFC2231 joins the segments of one parameter in index order
// (RFC 2231 §3), percent-decodes the encoded ones (§4) and converts the
// whole from the charset the first one names to UTF-8, as mail clients
// show it. A charset nobody knows leaves the bytes as they are.
func joinRFC2231(segs []rfc2231Segment) string {
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].index < segs[j].index })
	var raw []byte
	cs := ""
	for i, s := range segs {
		v := s.value
		if s.encoded {
			if i == 0 {
				// charset'language'value; a first segment without the two
				// quotes is taken as the value, as Thunderbird does.
				if c, rest, ok := strings.Cut(v, "'"); ok {
					if _, val, ok := strings.Cut(rest, "'"); ok {
						cs, v = strings.ToLower(strings.TrimSpace(c)), val
					}
				}
			}
			raw = append(raw, percentDecode(v)...)
			continue
		}
		raw = append(raw, v...)
	}
	// A parameter is short (bounded by its header line): no limit.
	return string(ToUTF8(cs, raw, math.MaxInt))
}

// percentDecode undoes RFC 2231 §4's %XX escapes; a "%" not followed by
// two hex digits is kept.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(n))
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

// ToUTF8 converts at most limit bytes of text in charset cs (RFC 2046
// §4.1.2) to UTF-8, so that what a mail client shows as "café" reads as
// "café" whether it was sent in ISO-8859-1, windows-1252 or UTF-8.
// UTF-8, US-ASCII, no charset and a charset nobody knows leave text as
// it is, and so does a conversion that fails: what converted before the
// error would hide what follows it from a rule (a file name's ".exe").
func ToUTF8(cs string, text []byte, limit int) []byte {
	switch cs = strings.ToLower(strings.TrimSpace(cs)); cs {
	case "", "utf-8", "utf8", "us-ascii":
		return text
	}
	r, err := charset.Reader(cs, bytes.NewReader(text))
	if err != nil {
		return text
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)))
	if err != nil {
		return text
	}
	return out
}
