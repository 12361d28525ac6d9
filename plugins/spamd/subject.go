package spamd

import (
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// tagSubject puts prefix in front of m's first Subject, as
// SpamAssassin's rewrite_header Subject does, or adds a Subject of the
// prefix alone. A Subject that already starts with it is left as it is,
// so a message scanned twice is not tagged twice. The prefix is followed
// by white space, which an RFC 2047 encoded-word after it needs (§5), and
// never goes inside one: the Subject's own text is kept byte for byte.
func tagSubject(m *sdk.Message, prefix string) []sdk.Edit {
	for _, h := range m.Headers {
		if !strings.EqualFold(h.Name, "Subject") {
			continue
		}
		v := strings.TrimLeft(h.Value, " \t\r\n")
		if v == prefix || strings.HasPrefix(v, prefix+" ") || strings.HasPrefix(v, prefix+"\t") || strings.HasPrefix(v, prefix+"\r\n") {
			return nil
		}
		if v == "" {
			return []sdk.Edit{sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: prefix}}
		}
		// Folded after the prefix when the first line would pass 78
		// characters (RFC 5322 §2.1.1): unfolded, it reads the same.
		first, _, _ := strings.Cut(v, "\r\n")
		sep := " "
		if len("Subject: ")+len(prefix)+1+len(first) > 78 {
			sep = "\r\n "
		}
		return []sdk.Edit{sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: prefix + sep + v}}
	}
	return []sdk.Edit{sdk.AddHeader{Name: "Subject", Value: prefix}}
}
