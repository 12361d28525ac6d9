package bounce

import (
	"fmt"
	"net/mail"
	"strings"
)

// fromField is a report's From: the template's address under its
// display name, as Postfix writes it, or the built-in "Mail Delivery
// System" <MAILER-DAEMON@host>. A bare name in the template is at host,
// as Postfix's cleanup appends @$myorigin, whose default is
// $myhostname; "From: MAILER-DAEMON" has no display name.
func fromField(tpl *Template, host string) string {
	display, addr := "Mail Delivery System", "MAILER-DAEMON@"+host
	if tpl != nil && tpl.fromAddr != "" {
		display, addr = tpl.From, qualify(tpl.fromAddr, host)
	}
	if display == "" {
		return "<" + addr + ">"
	}
	return phrase(display) + " <" + addr + ">"
}

// qualify is addr at host when it is a bare name.
func qualify(addr, host string) string {
	if strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + host
}

// checkFromAddr refuses a template's From address that cannot be the
// address of a report's From field: it must be ASCII (a report's header
// is not SMTPUTF8, RFC 6532) and one mailbox (RFC 5322 §3.4), checked
// qualified as fromField writes it, and at most 254 characters (a
// path's 256 with its brackets, RFC 5321 §4.5.3.1.3).
func checkFromAddr(addr string) error {
	switch {
	case !ascii(addr):
		return fmt.Errorf("an address that is not ASCII")
	case len(addr) > 254:
		return fmt.Errorf("an address of more than 254 characters")
	}
	a, err := mail.ParseAddress("<" + qualify(addr, "host.invalid") + ">")
	if err != nil || a.Name != "" {
		return fmt.Errorf("not an address")
	}
	return nil
}

// subjectField is a report's Subject: the template's, or the built-in
// one for the worst thing the report tells; a report to the postmaster
// takes the template's Postmaster-Subject. Not ASCII, or with a word too
// long to fold within a line, it is RFC 2047 encoded-words (Postfix
// takes ASCII only).
func subjectField(tpl *Template, rcpts []Recipient, postmaster bool) string {
	s := subject(rcpts)
	switch {
	case tpl == nil:
	case postmaster && tpl.PostmasterSubject != "":
		s = tpl.PostmasterSubject
	case !postmaster && tpl.Subject != "":
		s = tpl.Subject
	}
	if ascii(s) && longestWord(s) <= maxHeaderWord {
		return s
	}
	return encodedWords(s)
}

// maxHeaderWord is the longest word of a Subject or display name
// written as it is: field folds only at spaces, and a line must stay
// within 998 characters (RFC 5322 §2.1.1) with the field's name before
// it. A longer word is sent as encoded-words, which fold.
const maxHeaderWord = 900

// longestWord is the length of the longest run of s without a space.
func longestWord(s string) int {
	n := 0
	for _, w := range strings.Fields(s) {
		n = max(n, len(w))
	}
	return n
}

// phrase is a display name as RFC 5322 §3.2.5 writes one: as it is when
// it is words of atext, else a quoted-string, and RFC 2047 encoded-words
// (§5, in a phrase) when it is not ASCII or has a word too long to fold.
func phrase(s string) string {
	if !ascii(s) || longestWord(s) > maxHeaderWord {
		return encodedWords(s)
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", rune(c)) {
			plain = false
		}
	}
	if plain && strings.TrimSpace(s) == s && !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// maxEncodedWord is the length of the encoded-words encodedWords writes:
// a line holding one is at most 76 characters (RFC 2047 §2), "Subject: "
// or a folded line's tab before it included.
const maxEncodedWord = 66

// encodedWords is s, UTF-8, as RFC 2047 "Q" encoded-words of at most
// maxEncodedWord characters, separated by spaces (which a reader drops
// between encoded-words, §6.2), each whole characters (§5). Only
// letters, digits and !*+-/ are written as they are, as §5 (3) asks of
// a word in a phrase; Go's mime.QEncoding leaves "<>,@()\"" too, which
// would end a From field's display name. Usable in a Subject too.
func encodedWords(s string) string {
	const prefix, suffix = "=?utf-8?q?", "?="
	var words []string
	var w strings.Builder
	for _, r := range s {
		var enc strings.Builder
		for _, c := range []byte(string(r)) {
			switch {
			case c == ' ':
				enc.WriteByte('_')
			case isAlnum(c) || strings.IndexByte("!*+-/", c) >= 0:
				enc.WriteByte(c)
			default:
				fmt.Fprintf(&enc, "=%02X", c)
			}
		}
		if w.Len() > 0 && len(prefix)+w.Len()+enc.Len()+len(suffix) > maxEncodedWord {
			words = append(words, prefix+w.String()+suffix)
			w.Reset()
		}
		w.WriteString(enc.String())
	}
	if w.Len() > 0 || len(words) == 0 {
		words = append(words, prefix+w.String()+suffix)
	}
	return strings.Join(words, " ")
}
