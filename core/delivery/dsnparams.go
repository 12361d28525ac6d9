package delivery

import (
	"errors"
	"strings"
)

// xtext is how RFC 3461 §4 carries ENVID= and ORCPT= values in MAIL and
// RCPT parameters: printable ASCII but "+" and "=" as is, any other octet
// as "+" and two upper case hex digits. go-smtp encodes and decodes them on
// the wire; these are Sluice's own, for values written or read elsewhere
// (DSN reports, logs, the fuzz test's reference).

var errXtext = errors.New("delivery: malformed xtext")

// isXchar reports whether c stands for itself in xtext (RFC 3461 §4).
func isXchar(c byte) bool {
	return c >= '!' && c <= '~' && c != '+' && c != '='
}

// encodeXtext encodes s as xtext.
func encodeXtext(s string) string {
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isXchar(c) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('+')
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&0xf])
	}
	return sb.String()
}

// decodeXtext decodes xtext. It takes lower case hex digits too, as a
// liberal receiver, and refuses any octet xtext does not allow.
func decodeXtext(s string) (string, error) {
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isXchar(c):
			sb.WriteByte(c)
		case c == '+' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			sb.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			return "", errXtext
		}
	}
	return sb.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
