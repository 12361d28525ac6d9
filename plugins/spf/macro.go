package spf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// macroToken is literal text or one macro-expand (RFC 7208 §7.1).
type macroToken struct {
	literal string // the text of a literal, or of %%, %_ and %-
	escape  bool   // literal came from %%, %_ or %- (a macro-expand in the ABNF)
	letter  byte   // lowercase macro letter; 0 for a literal
	upper   bool   // URL-escape the value (RFC 7208 §7.3)
	digits  int    // keep this many right-hand parts; 0 keeps all
	reverse bool
	delims  string // split on any of these; "" means "."
}

// macroString is a parsed macro-string.
type macroString struct {
	src  string
	toks []macroToken
}

// maxDigits bounds a transformer: more parts than this never exist in a
// 253-character name, so larger values keep all.
const maxDigits = 128

// macroEscapes are the two-character macro-expands (RFC 7208 §7.1).
var macroEscapes = map[byte]string{'%': "%", '_': " ", '-': "%20"}

// parseMacroString parses s. explanation allows the letters c, r and t
// and spaces (explain-string, RFC 7208 §6.2, §7.1).
func parseMacroString(s string, explanation bool) (*macroString, error) {
	ms := &macroString{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ms.toks = append(ms.toks, macroToken{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			// macro-literal = %x21-24 / %x26-7E; SP only in an explain-string.
			if c > 0x7e || c < 0x20 || (c == ' ' && !explanation) {
				return nil, fmt.Errorf("invalid character 0x%02x", c)
			}
			lit.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("%q: lone %% at the end", s)
		}
		i++
		if v, ok := macroEscapes[s[i]]; ok {
			flush()
			ms.toks = append(ms.toks, macroToken{literal: v, escape: true})
			continue
		}
		if s[i] != '{' {
			return nil, fmt.Errorf("%q: invalid %%%c", s, s[i])
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: unterminated macro", s)
		}
		tok, err := parseMacro(s[i+1:i+end], explanation)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", s, err)
		}
		flush()
		ms.toks = append(ms.toks, tok)
		i += end
	}
	flush()
	return ms, nil
}

// parseMacro parses what is between "%{" and "}": macro-letter
// transformers *delimiter.
func parseMacro(body string, explanation bool) (macroToken, error) {
	if body == "" {
		return macroToken{}, fmt.Errorf("empty macro")
	}
	t := macroToken{letter: body[0] | 0x20, upper: 'A' <= body[0] && body[0] <= 'Z'}
	letters := "slodipvh"
	if explanation {
		letters += "crt"
	}
	if !('a' <= t.letter && t.letter <= 'z') || !strings.ContainsRune(letters, rune(t.letter)) {
		return macroToken{}, fmt.Errorf("unknown macro letter %q", body[0])
	}
	rest := body[1:]
	n := 0
	for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
		n++
	}
	if n > 0 {
		d, err := strconv.Atoi(rest[:n])
		if err != nil || d > maxDigits {
			d = maxDigits
		}
		if d == 0 {
			return macroToken{}, fmt.Errorf("zero transformer digits") // RFC 7208 §7.3
		}
		t.digits = d
		rest = rest[n:]
	}
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		t.reverse = true
		rest = rest[1:]
	}
	for i := 0; i < len(rest); i++ {
		if !strings.ContainsRune(".-+,/_=", rune(rest[i])) {
			return macroToken{}, fmt.Errorf("invalid delimiter %q", rest[i])
		}
	}
	t.delims = rest
	return t, nil
}

// endsWithMacro reports whether the last token is a macro-expand, which
// ends a domain-spec without a literal top label (RFC 7208 §12 domain-end).
func (ms *macroString) endsWithMacro() bool {
	if len(ms.toks) == 0 {
		return false
	}
	last := ms.toks[len(ms.toks)-1]
	return last.letter != 0 || last.escape
}

// literalTail is the text of the last token when it is a plain literal.
func (ms *macroString) literalTail() string {
	if len(ms.toks) == 0 {
		return ""
	}
	last := ms.toks[len(ms.toks)-1]
	if last.letter != 0 || last.escape {
		return ""
	}
	return last.literal
}

// macroEnv is what the macro letters stand for (RFC 7208 §7.2).
type macroEnv struct {
	sender       string // s
	local        string // l
	senderDomain string // o
	domain       string // d: the current domain
	ip           netip.Addr
	helo         string // h
	receiver     string // r
	now          time.Time
	// ptr returns the validated name of ip for %{p} (RFC 7208 §7.3).
	ptr func() string
}

// maxExpansion bounds what one expansion builds. A record of 64 KiB
// holds some 15,000 "%{L}", each the local part (up to a command line
// long) URL-escaped: unbounded, one term came to hundreds of megabytes.
// A name keeps at most 253 characters anyway (RFC 7208 §7.3), and an
// explanation is cut to fit a reply line.
const maxExpansion = 1024

// expand renders ms in env: its first maxExpansion bytes.
func (ms *macroString) expand(env *macroEnv) string {
	s, _ := ms.render(env, maxExpansion, false)
	return s
}

// expandTail renders ms in env and keeps only its last n bytes, cut says
// whether anything was left out. A domain-spec is truncated from the
// left (RFC 7208 §7.3), so only its right end matters; tokens are
// rendered from the last one back and the rest are never rendered.
func (ms *macroString) expandTail(env *macroEnv, n int) (s string, cut bool) {
	return ms.render(env, n, true)
}

// render renders tokens in order, or from the last one back when
// fromRight, until n bytes are written, and returns n bytes at most: the
// first ones, or the last ones when fromRight.
func (ms *macroString) render(env *macroEnv, n int, fromRight bool) (string, bool) {
	pieces := make([]string, 0, len(ms.toks))
	total := 0
	for i := range ms.toks {
		t := ms.toks[i]
		if fromRight {
			t = ms.toks[len(ms.toks)-1-i]
		}
		v := t.literal
		if t.letter != 0 {
			v = transform(env.value(t.letter), t)
			if t.upper {
				v = urlEscape(v)
			}
		}
		pieces = append(pieces, v)
		if total += len(v); total > n {
			break
		}
	}
	if fromRight {
		slices.Reverse(pieces)
	}
	s := strings.Join(pieces, "")
	if len(s) <= n {
		return s, false
	}
	if fromRight {
		return s[len(s)-n:], true
	}
	return s[:n], true
}

func (env *macroEnv) value(letter byte) string {
	switch letter {
	case 's':
		return env.sender
	case 'l':
		return env.local
	case 'o':
		return env.senderDomain
	case 'd':
		return env.domain
	case 'i':
		return dottedIP(env.ip)
	case 'p':
		return env.ptr()
	case 'v':
		if env.ip.Is4() {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return env.helo
	case 'c':
		return env.ip.String()
	case 'r':
		if env.receiver == "" {
			return "unknown"
		}
		return env.receiver
	case 't':
		return strconv.FormatInt(env.now.Unix(), 10)
	}
	return ""
}

// dottedIP is %{i}: an IPv4 address as is, an IPv6 address as dot-separated
// nibbles (RFC 7208 §7.3), lowercase like the RFC's example in §7.4.
func dottedIP(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 63)
	for i, x := range ip.As16() {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, hex[x>>4], '.', hex[x&0xf])
	}
	return string(b)
}

// transform splits on the delimiters, optionally reverses and keeps the
// right-hand parts, then joins with "." (RFC 7208 §7.3).
func transform(v string, t macroToken) string {
	if t.digits == 0 && !t.reverse && (t.delims == "" || t.delims == ".") {
		return v
	}
	delims := t.delims
	if delims == "" {
		delims = "."
	}
	parts := splitAny(v, delims)
	if t.reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if t.digits > 0 && t.digits < len(parts) {
		parts = parts[len(parts)-t.digits:]
	}
	return strings.Join(parts, ".")
}

func splitAny(s, delims string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// urlEscape escapes all but the RFC 3986 unreserved characters, as an
// uppercase macro letter asks (RFC 7208 §7.3).
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
	}
	return b.String()
}
