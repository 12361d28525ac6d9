package bounce

import (
	"mime"
	"strings"
)

// fromField is a report's From: MAILER-DAEMON at host, under the
// template's display name when it has one. The address stays Sluice's
// where Postfix writes the template's (qualified with $myorigin): the
// report's envelope sender is null, so its From is where a person's
// reply goes, and a notice must not send replies to a mailbox the
// template's author named for another host or another daemon.
func fromField(tpl *Template, host string) string {
	display := "Mail Delivery System"
	if tpl != nil && tpl.fromAddr != "" {
		display = tpl.From // "From: MAILER-DAEMON" has none
	}
	addr := "<MAILER-DAEMON@" + host + ">"
	if display == "" {
		return addr
	}
	return phrase(display) + " " + addr
}

// subjectField is a report's Subject: the template's, or the built-in
// one for the worst thing the report tells; a report to the postmaster
// takes the template's Postmaster-Subject. Not ASCII, it is an RFC 2047
// encoded-word (Postfix takes ASCII only).
func subjectField(tpl *Template, rcpts []Recipient, postmaster bool) string {
	s := subject(rcpts)
	switch {
	case tpl == nil:
	case postmaster && tpl.PostmasterSubject != "":
		s = tpl.PostmasterSubject
	case !postmaster && tpl.Subject != "":
		s = tpl.Subject
	}
	if ascii(s) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// phrase is a display name as RFC 5322 §3.2.5 writes one: as it is when
// it is words of atext, else a quoted-string, and an RFC 2047
// encoded-word (§5, in a phrase) when it is not ASCII.
func phrase(s string) string {
	if !ascii(s) {
		return mime.QEncoding.Encode("utf-8", s)
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
