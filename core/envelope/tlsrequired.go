package envelope

import (
	"bytes"
	"strings"
)

// TLSRequiredNo reports whether msg's header section (the message as
// stored, CRLF or LF line ends) has a "TLS-Required: No" field (RFC 8689
// §5): the sender asks that the recipient domain's TLS policies (MTA-STS,
// DANE) be ignored. Name and value are matched without regard to case,
// the value after unfolding and with comments and white space removed
// (RFC 5322 §3.2.2's CFWS). Every TLS-Required field must say No: a
// header contradicting itself keeps the policies.
func TLSRequiredNo(msg []byte) bool {
	seen := false
	for _, f := range headerFields(msg) {
		name, value, ok := strings.Cut(f, ":")
		if !ok || !strings.EqualFold(strings.TrimRight(name, " \t"), "TLS-Required") {
			continue
		}
		if !strings.EqualFold(stripCFWS(value), "No") {
			return false
		}
		seen = true
	}
	return seen
}

// headerFields returns msg's header fields, each unfolded (RFC 5322
// §2.2.3), up to the empty line that ends the header section.
func headerFields(msg []byte) []string {
	var fields []string
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0:
			return fields
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1] += string(line)
		default:
			fields = append(fields, string(line))
		}
	}
	return fields
}

// stripCFWS removes comments (nested, with quoted-pairs) and white space
// from a field value.
func stripCFWS(v string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && depth > 0:
			i++ // a quoted-pair inside a comment
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == ' ', c == '\t':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
