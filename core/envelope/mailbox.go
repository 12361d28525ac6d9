package envelope

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MailboxError checks addr, an address in the form the envelope keeps
// (smtpd's wire form: the local part quoted when it is not a dot-string),
// against RFC 5321 §4.1.2 and §4.5.3.1.1, as smtpd checks a client's: one
// "@" (a quoted one is refused, as smtpd refuses it), a local part of at
// most 64 octets that is a Dot-string or a Quoted-string (no control
// character, and space, "<" or ">" only inside the quotes), and a domain
// ValidDomain accepts. Non-ASCII is UTF-8 (RFC 6531 §3.3). It returns nil
// for a mailbox. The pipeline checks a stage's envelope edits with it,
// and a plugin whose configuration names an address it will add (the
// filter's redirect) checks it at start with the same rule, so that
// check-config and the core agree.
func MailboxError(addr string) error {
	if !utf8.ValidString(addr) {
		return errors.New("address is not UTF-8")
	}
	at := strings.IndexByte(addr, '@')
	if at < 0 || strings.Count(addr, "@") != 1 {
		return errors.New("address must be local-part@domain")
	}
	local, domain := addr[:at], addr[at+1:]
	if !ValidDomain(domain) {
		return errors.New("bad domain")
	}
	n, err := localPartLen(local)
	switch {
	case err != nil:
		return err
	case n == 0:
		return errors.New("empty local part")
	case n > 64:
		return errors.New("local part over 64 octets (RFC 5321 section 4.5.3.1.1)")
	}
	return nil
}

// localPartLen checks a Local-part (RFC 5321 §4.1.2: Dot-string or
// Quoted-string) and returns its length without quotes and escapes.
func localPartLen(s string) (int, error) {
	if strings.HasPrefix(s, `"`) {
		n := 0
		for i := 1; i < len(s); i, n = i+1, n+1 {
			switch c := s[i]; {
			case c == '"':
				if i != len(s)-1 {
					return 0, errors.New("local part has text after its quoted string")
				}
				return n, nil
			case c == '\\': // quoted-pairSMTP: a backslash and %d32-126
				i++
				if i == len(s) || s[i] < ' ' || s[i] > '~' {
					return 0, errors.New("local part has a bad quoted pair")
				}
			case c < ' ' || c == 0x7f: // qtextSMTP is %d32-126, or UTF-8 (RFC 6531)
				return 0, fmt.Errorf("local part has %q", c)
			}
		}
		return 0, errors.New("local part has an unterminated quote")
	}
	// Dot-string: atoms of atext joined by single dots.
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" && s != "" {
			return 0, errors.New("local part has an empty atom")
		}
		if i := strings.IndexFunc(atom, func(r rune) bool { return r < 0x80 && !isAtext(byte(r)) }); i >= 0 {
			return 0, fmt.Errorf("local part has %q outside quotes", atom[i])
		}
	}
	return len(s), nil
}

// isAtext reports whether c is an ASCII atext character (RFC 5322 §3.2.3).
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
