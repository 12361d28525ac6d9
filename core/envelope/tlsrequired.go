package envelope

import (
	"bytes"
	"strings"
)

// TLSRequiredNo reports whether msg's header section (the message as
// stored, CRLF or LF line ends) has a "TLS-Required: No" field (RFC 8689
// §5): the sender asks that the recipient domain's TLS policies (MTA-STS,
// DANE) be ignored. Name and value are matched without regard to case,
// the value after unfolding with comments and white space around the
// one word "No" allowed (RFC 5322 §3.2.2's CFWS; §5's ABNF is
// "TLS-Required:" [FWS] "No"). Every TLS-Required field must say No: a
// header contradicting itself keeps the policies. The scan is linear in
// the header's size: only a TLS-Required field's value is kept, so a
// header of many folded lines costs no more than its length.
func TLSRequiredNo(msg []byte) bool {
	seen := false
	var value []byte // the TLS-Required field being read, unfolded
	in := false      // the field being read is a TLS-Required one
	// end closes the field being read; false when it says other than No.
	end := func() bool {
		if !in {
			return true
		}
		in, seen = false, true
		return isNo(value)
	}
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // the empty line that ends the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 5322 §2.2.3: a folded line continues the field.
			if in {
				value = append(value, line...)
			}
			continue
		}
		if !end() {
			return false
		}
		name, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimRight(name, " \t")), "TLS-Required") {
			in, value = true, append(value[:0], v...)
		}
	}
	return end() && seen
}

// isNo reports whether a field value is the word No (any case) and,
// around it, only comments (nested, with quoted-pairs) and white space.
func isNo(v []byte) bool {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && depth > 0:
			i++ // a quoted-pair inside a comment
		case c == '(':
			depth++
			b.WriteByte(' ') // a comment separates words as a space does
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		default:
			b.WriteByte(c)
		}
	}
	words := strings.Fields(b.String())
	return len(words) == 1 && strings.EqualFold(words[0], "No")
}
