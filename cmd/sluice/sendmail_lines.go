package main

import (
	"bytes"
	"mime"
	"strings"
)

// maxLine is the longest line a message may have, its CRLF not counted
// (RFC 5322 §2.1.1). The daemon refuses a line over its max_line_length,
// and a next hop may refuse one over 998: PHP's mail() passes a long
// line of HTML on, and cron a long line of output.
const maxLine = 998

// fitFields folds each field of m that has a line over maxLine at its
// white space (RFC 5322 §2.2.3), as a submission agent may fix a message
// (RFC 6409 §8). Long body lines are readMessage's and submission's.
func (m *smMessage) fitFields() {
	for i, f := range m.fields {
		m.fields[i] = foldField(f)
	}
}

func hasLongLine(text []byte) bool {
	for _, l := range bytes.Split(text, []byte("\r\n")) {
		if len(l) > maxLine {
			return true
		}
	}
	return false
}

// foldField folds each line of f, a field with its CRLFs, that is over
// maxLine: after the last word that leaves at most maxLine, or, when the
// line has no white space after a word, with a CRLF and a space
// inserted. No line it makes is only white space, which RFC 5322 §3.2.2
// allows only as obsolete syntax: a long line loses its trailing white
// space, and a run of white space longer than 78 octets (§2.1.1's line
// length) becomes one space; a long line of white space alone goes.
func foldField(f string) string {
	if !hasLongLine([]byte(f)) {
		return f
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(f, "\r\n") {
		if len(l) > maxLine+2 {
			l = squeezeSpace(l)
		}
		for len(l) > maxLine+2 {
			cut := lastWordEnd(l[:maxLine+1])
			if cut <= 0 {
				b.WriteString(l[:maxLine-1] + "\r\n ")
				l = l[maxLine-1:]
				continue
			}
			b.WriteString(l[:cut] + "\r\n")
			l = l[cut:]
		}
		b.WriteString(l)
	}
	return b.String()
}

// squeezeSpace drops the trailing white space of l, a line with its CRLF,
// and makes each run of white space over 78 octets one space. A line of
// white space alone becomes "".
func squeezeSpace(l string) string {
	body, crlf := strings.CutSuffix(l, "\r\n")
	body = strings.TrimRight(body, " \t")
	if body == "" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(body); {
		j := i
		for j < len(body) && (body[j] == ' ' || body[j] == '\t') {
			j++
		}
		switch {
		case j-i > 78:
			b.WriteByte(' ')
		case j > i:
			b.WriteString(body[i:j])
		default:
			j++
			b.WriteByte(body[i])
		}
		i = j
	}
	if crlf {
		b.WriteString("\r\n")
	}
	return b.String()
}

// lastWordEnd returns the index of the last space or tab of s that
// follows a character other than white space, or -1: folding there
// leaves a word on the line.
func lastWordEnd(s string) int {
	for j := len(s) - 1; j >= 1; j-- {
		if (s[j] == ' ' || s[j] == '\t') && s[j-1] != ' ' && s[j-1] != '\t' {
			return j
		}
	}
	return -1
}

// plainText reports whether m's body is one text that quoted-printable
// may encode: not multipart or message/* (RFC 2046 §5 allows those no
// encoding but 7bit, 8bit or binary), and not encoded already.
func (m *smMessage) plainText() bool {
	if ct := m.values("Content-Type"); len(ct) > 0 {
		mt, _, err := mime.ParseMediaType(ct[0])
		if err != nil || strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
			return false
		}
	}
	if cte := m.values("Content-Transfer-Encoding"); len(cte) > 0 {
		switch strings.ToLower(cte[0]) {
		case "7bit", "8bit", "binary":
		default:
			return false
		}
	}
	return true
}

// addQPFields says in m's header that its body, utf8Text if it is UTF-8
// other than ASCII, is sent quoted-printable (RFC 2045 §6.7), which keeps
// a body line over maxLine intact (a long line of HTML from PHP's
// mail(), of output from cron). MIME-Version is added when missing (RFC
// 2045 §4); so is a Content-Type naming UTF-8 for a UTF-8 body that had
// none, which the encoding would otherwise leave read as US-ASCII (RFC
// 2045 §5.2).
func (m *smMessage) addQPFields(utf8Text bool) {
	if !m.has("MIME-Version") {
		m.fields = append(m.fields, "MIME-Version: 1.0\r\n")
	}
	if !m.has("Content-Type") && utf8Text {
		m.fields = append(m.fields, "Content-Type: text/plain; charset=utf-8\r\n")
	}
	m.remove("Content-Transfer-Encoding")
	m.fields = append(m.fields, "Content-Transfer-Encoding: quoted-printable\r\n")
}
