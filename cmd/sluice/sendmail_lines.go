package main

import (
	"bytes"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"
)

// maxLine is the longest line a message may have, its CRLF not counted
// (RFC 5322 §2.1.1). The daemon refuses a line over its max_line_length,
// and a next hop may refuse one over 998: PHP's mail() passes a long
// line of HTML on, and cron a long line of output.
const maxLine = 998

// fitLines makes every line of m at most maxLine octets, as a
// submission agent may fix a message (RFC 6409 §8). A header field is
// folded at its white space (RFC 5322 §2.2.3). A long body line is kept
// intact by quoted-printable (RFC 2045 §6.7) when the body is one text
// with no transfer encoding of its own; else it is broken with CRLF and
// a space, as Postfix's smtp_line_length_limit breaks it.
func (m *smMessage) fitLines() {
	for i, f := range m.fields {
		m.fields[i] = foldField(f)
	}
	if !hasLongLine(m.body) {
		return
	}
	if m.plainText() {
		m.encodeQP()
		return
	}
	var b bytes.Buffer
	for _, l := range bytes.SplitAfter(m.body, []byte("\r\n")) {
		// Pieces of maxLine-1 octets: the space starts the next line.
		for len(l) > maxLine+2 {
			b.Write(l[:maxLine-1])
			b.WriteString("\r\n ")
			l = l[maxLine-1:]
		}
		b.Write(l)
	}
	m.body = b.Bytes()
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
// maxLine: before the last space or tab that leaves at most maxLine, or,
// when the line has none, with a CRLF and a space inserted.
func foldField(f string) string {
	if !hasLongLine([]byte(f)) {
		return f
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(f, "\r\n") {
		for len(l) > maxLine+2 {
			cut := strings.LastIndexAny(l[1:maxLine+1], " \t") + 1
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

// encodeQP encodes m's body as quoted-printable and says so in its
// header. MIME-Version is added when missing (RFC 2045 §4); so is a
// Content-Type naming UTF-8 for a UTF-8 body that had none, which the
// encoding would otherwise leave read as US-ASCII (RFC 2045 §5.2).
func (m *smMessage) encodeQP() {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	_, _ = w.Write(m.body)
	_ = w.Close()
	if !m.has("MIME-Version") {
		m.fields = append(m.fields, "MIME-Version: 1.0\r\n")
	}
	if !m.has("Content-Type") && !isASCII(string(m.body)) && utf8.Valid(m.body) {
		m.fields = append(m.fields, "Content-Type: text/plain; charset=utf-8\r\n")
	}
	m.remove("Content-Transfer-Encoding")
	m.fields = append(m.fields, "Content-Transfer-Encoding: quoted-printable\r\n")
	m.body = b.Bytes()
}
