package spamd

import (
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/sdk"
)

// tagSubject puts prefix in front of m's first Subject, as
// SpamAssassin's rewrite_header Subject does, or adds a Subject of the
// prefix alone. A Subject that already starts with it is left as it is,
// so a message scanned twice is not tagged twice. The prefix is followed
// by white space, which an RFC 2047 encoded-word after it needs (§5), and
// never goes inside one: the Subject's own text is kept byte for byte.
// It says why when it leaves the Subject alone.
func tagSubject(m *sdk.Message, prefix string) ([]sdk.Edit, string) {
	for _, h := range m.Headers {
		if !strings.EqualFold(h.Name, "Subject") {
			continue
		}
		// A Subject whose bytes are not UTF-8 (a Latin-1 one from an old
		// mailer) reaches the plugin with U+FFFD for them, and an edit
		// carries UTF-8 only: changed, its text would be lost.
		if len(h.Raw) > 0 && !utf8.Valid(h.Raw) {
			return nil, "Subject not tagged: it is not UTF-8"
		}
		v := strings.TrimLeft(h.Value, " \t\r\n")
		if v == prefix || strings.HasPrefix(v, prefix+" ") || strings.HasPrefix(v, prefix+"\t") || strings.HasPrefix(v, prefix+"\r\n") {
			return nil, "Subject already tagged"
		}
		v = dropBlankFolds(v)
		if v == "" {
			return []sdk.Edit{sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: prefix}}, "Subject tagged"
		}
		// Folded after the prefix when the first line would pass 78
		// characters (RFC 5322 §2.1.1): unfolded, it reads the same.
		first, _, _ := strings.Cut(v, "\r\n")
		sep := " "
		if len("Subject: ")+len(prefix)+1+len(first) > 78 {
			sep = "\r\n "
		}
		return []sdk.Edit{sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: prefix + sep + v}}, "Subject tagged"
	}
	return []sdk.Edit{sdk.AddHeader{Name: "Subject", Value: prefix}}, "Subject tagged"
}

// dropBlankFolds leaves out of a received value the continuation lines
// of white space only, and the white space ending it: RFC 5322's
// obsolete syntax (§4.2) that a message may arrive with but an edit may
// not write (§3.2.2), and that the core refuses in one as a possible
// header injection. Unfolded, the value reads the same; its line ends
// are CRLF, a bare LF's too.
func dropBlankFolds(v string) string {
	if !strings.Contains(v, "\n") {
		return strings.TrimRight(v, " \t")
	}
	lines := strings.Split(strings.ReplaceAll(v, "\r\n", "\n"), "\n")
	kept := lines[:0]
	for i, line := range lines {
		if i == 0 || strings.Trim(line, " \t") != "" {
			kept = append(kept, strings.TrimRight(line, " \t"))
		}
	}
	return strings.Join(kept, "\r\n")
}
