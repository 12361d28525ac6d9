package route

import "github.com/sluice-mta/sluice/internal/mailhdr"

// Header address rewriting changes the addr-spec of each mailbox in a
// field and nothing else: display names (encoded words included),
// comments, groups, white space and folding stay byte for byte, which
// net/mail, parsing into values and formatting anew, would not keep. So
// this finds where each addr-spec is in the field's value (RFC 5322 §3.4,
// with the obsolete route of §4.4) and the caller replaces those bytes. A
// value it cannot read as an address list, or an addr-spec with a comment
// or white space inside it (obsolete syntax), gives no spans at all: the
// field is then left as it is rather than half rewritten.

// span is the byte range of one addr-spec in a field value.
type span struct{ start, end int }

type tokKind int

const (
	tokAtom    tokKind = iota // atext run (UTF-8 too, RFC 6532 §3.2)
	tokQuoted                 // quoted-string, quotes included
	tokLiteral                // domain-literal, brackets included
	tokSpecial                // one of < > @ , ; : .
)

type token struct {
	kind       tokKind
	c          byte // the special
	start, end int
}

// tokenize splits v into tokens, dropping white space and comments; ok
// is false for what no address list holds (an unterminated quote,
// comment or literal, a stray backslash or bracket, a control
// character).
func tokenize(v string) ([]token, bool) {
	var toks []token
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			end := mailhdr.CommentEnd(v, i)
			if end < 0 {
				return nil, false
			}
			i = end
		case c == '"' || c == '[':
			closer := byte('"')
			kind := tokQuoted
			if c == '[' {
				closer, kind = ']', tokLiteral
			}
			j := i + 1
			for ; j < len(v) && v[j] != closer; j++ {
				if v[j] == '\\' {
					j++
				} else if c == '[' && v[j] == '[' {
					return nil, false
				}
			}
			if j >= len(v) {
				return nil, false
			}
			toks = append(toks, token{kind: kind, start: i, end: j + 1})
			i = j + 1
		case c == '<' || c == '>' || c == '@' || c == ',' || c == ';' || c == ':' || c == '.':
			toks = append(toks, token{kind: tokSpecial, c: c, start: i, end: i + 1})
			i++
		case c == ')' || c == ']' || c == '\\' || c < ' ' || c == 0x7f:
			return nil, false
		default:
			j := i
			for j < len(v) && isAtomByte(v[j]) {
				j++
			}
			toks = append(toks, token{kind: tokAtom, start: i, end: j})
			i = j
		}
	}
	return toks, true
}

// isAtomByte reports whether c may be in an atom: atext (RFC 5322
// §3.2.3), or a byte of a UTF-8 sequence (RFC 6532 §3.2).
func isAtomByte(c byte) bool {
	return c >= 0x80 || c > ' ' && c < 0x7f && !isSpecial(c)
}

func isSpecial(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '.', '"':
		return true
	}
	return false
}

// addrSpecs returns where the addr-spec of each mailbox of v, an
// address-list (or a Return-Path's angle-addr), is, in order; ok is false
// when v is not one, or holds an addr-spec with something inside it that
// is not the address.
func addrSpecs(v string) (spans []span, ok bool) {
	toks, ok := tokenize(v)
	if !ok {
		return nil, false
	}
	p := &addrParser{toks: toks}
	for p.i < len(toks) {
		if p.special(',') { // an empty list element (RFC 5322 §4.4)
			p.i++
			continue
		}
		if !p.address(true) {
			return nil, false
		}
		if p.i < len(toks) && !p.special(',') {
			return nil, false
		}
	}
	return p.spans, true
}

type addrParser struct {
	toks  []token
	i     int
	spans []span
}

func (p *addrParser) special(c byte) bool {
	return p.i < len(p.toks) && p.toks[p.i].kind == tokSpecial && p.toks[p.i].c == c
}

func (p *addrParser) word() bool {
	return p.i < len(p.toks) && (p.toks[p.i].kind == tokAtom || p.toks[p.i].kind == tokQuoted)
}

// address reads a mailbox, or a group when group is true.
func (p *addrParser) address(group bool) bool {
	first := p.i
	for p.word() || p.special('.') { // a display name, or a local part
		p.i++
	}
	switch {
	case p.special('<'):
		return p.angleAddr()
	case p.special('@') && p.i > first:
		p.i = first
		return p.addrSpec()
	case p.special(':') && group && p.i > first:
		p.i++
		for !p.special(';') {
			switch {
			case p.i >= len(p.toks):
				return false
			case p.special(','):
				p.i++
			default:
				if !p.address(false) {
					return false
				}
				if !p.special(',') && !p.special(';') {
					return false
				}
			}
		}
		p.i++
		return true
	}
	return false
}

// angleAddr reads "<" [route] addr-spec ">", or "<>" (a null
// Return-Path).
func (p *addrParser) angleAddr() bool {
	p.i++
	if p.special('>') {
		p.i++
		return true
	}
	if p.special('@') { // obs-route: "@a.example,@b.example:"
		for !p.special(':') {
			if p.i >= len(p.toks) || p.special('>') || p.special('<') {
				return false
			}
			p.i++
		}
		p.i++
	}
	if !p.addrSpec() || !p.special('>') {
		return false
	}
	p.i++
	return true
}

// addrSpec reads local-part "@" domain and records its span, which must
// be the tokens alone, nothing between them.
func (p *addrParser) addrSpec() bool {
	first := p.i
	if !p.dotted(p.word) || !p.special('@') {
		return false
	}
	p.i++
	literal := func() bool { return p.i < len(p.toks) && p.toks[p.i].kind == tokLiteral }
	if literal() {
		p.i++
	} else if !p.dotted(func() bool { return p.i < len(p.toks) && p.toks[p.i].kind == tokAtom }) {
		return false
	}
	for k := first + 1; k < p.i; k++ {
		if p.toks[k].start != p.toks[k-1].end {
			return false
		}
	}
	p.spans = append(p.spans, span{p.toks[first].start, p.toks[p.i-1].end})
	return true
}

// dotted reads item *("." item).
func (p *addrParser) dotted(item func() bool) bool {
	if !item() {
		return false
	}
	p.i++
	for p.special('.') {
		p.i++
		if !item() {
			return false
		}
		p.i++
	}
	return true
}
