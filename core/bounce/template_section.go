package bounce

import (
	"fmt"
	"strings"

	xencoding "golang.org/x/text/encoding"
)

// Template is one template of a bounce(5) file: its header lines
// (Charset:, From:, Subject:, Postmaster-Subject:), then after them the
// text, whose $names are expanded when a report is built (expand).
type Template struct {
	Name string // failure_template…
	Line int    // of its "NAME = <<EOF"
	// Charset is the text part's charset, as its Content-Type names it:
	// Charset: (the IANA name, lower case), else utf-8, where Postfix's
	// default is us-ascii (UTF-8 being a superset, a Postfix file is
	// read the same).
	Charset string
	// From is the From display name ("Mail Delivery System"; "" for a
	// From: that has none, the built-in one without From:); Subject the
	// Subject; PostmasterSubject the Subject of a report of failure sent
	// to double_bounce_to instead (Postfix's postmaster copy). Each as
	// UTF-8; a Subject left out keeps the built-in.
	From, Subject, PostmasterSubject string

	fromAddr string             // the address From: gave, a bare name at the hostname
	enc      xencoding.Encoding // Charset's; nil for utf-8 and us-ascii
	text     []textLine
}

// textLine is a line of a template's text, as UTF-8, its $names not yet
// expanded, and its line in the file.
type textLine struct {
	line int
	s    string
}

// parseTemplate parses the lines of the template name, which begins at
// line start of file, its first line being line first, as Postfix's
// bounce_template_parse_buffer does: header lines while a line looks
// like one (a name, optional white space, a colon), then blank lines
// skipped, then the text, each line as written (leading white space and
// backslashes too).
func parseTemplate(file, name string, start, first int, body []string) (*Template, error) {
	fail := func(line int, format string, args ...any) error {
		return &TemplateError{File: file, Line: line, Msg: name + ": " + fmt.Sprintf(format, args...)}
	}
	tp := &Template{Name: name, Line: start, Charset: "utf-8"}
	type header struct {
		line  int
		value string
	}
	headers := map[string]header{}
	i := 0
	for ; i < len(body); i++ {
		n := headerName(body[i])
		if n == 0 {
			break
		}
		label := strings.ToLower(body[i][:n])
		value := strings.TrimRight(strings.TrimLeft(body[i][n:], ": \t\v\f"), " \t\v\f")
		switch {
		case value == "":
			return nil, fail(first+i, "empty %q header", body[i][:n])
		case label == "postmaster-subject" && (name == "success_template" || name == "verify_template"):
			// Postfix sends the postmaster copies of failures and
			// delays only, and refuses the label elsewhere.
			return nil, fail(first+i, "inapplicable %q header: a postmaster copy is of a failure or a delay", body[i][:n])
		case label != "charset" && label != "from" && label != "subject" && label != "postmaster-subject":
			return nil, fail(first+i, "unknown %q header: bounce(5) has Charset:, From:, Subject: and Postmaster-Subject: (a text whose first line looks like a header needs an empty line before it)", body[i][:n])
		}
		if h, ok := headers[label]; ok {
			return nil, fail(first+i, "a second %q header (the first is at line %d)", body[i][:n], h.line)
		}
		headers[label] = header{first + i, value}
	}
	for i < len(body) && strings.TrimSpace(body[i]) == "" {
		i++
	}
	if i == len(body) {
		return nil, fail(start, "missing message text")
	}
	if h, ok := headers["charset"]; ok {
		var err error
		if tp.Charset, tp.enc, err = lookupCharset(h.value); err != nil {
			return nil, fail(h.line, "%v", err)
		}
	}
	// The header values are in the text's charset too; Postfix takes
	// ASCII only, which every charset Sluice accepts reads the same.
	decoded := map[string]string{}
	for label, h := range headers {
		if label == "charset" {
			continue
		}
		v, err := tp.decode(h.value)
		if err == nil {
			err = noControl(v)
		}
		if err != nil {
			return nil, fail(h.line, "%s header: %v", label, err)
		}
		decoded[label] = v
	}
	tp.Subject, tp.PostmasterSubject = decoded["subject"], decoded["postmaster-subject"]
	if h, ok := headers["from"]; ok {
		display, addr, err := splitFrom(decoded["from"])
		if err == nil {
			err = checkFromAddr(addr)
		}
		if err != nil {
			return nil, fail(h.line, "From header %q: %v", h.value, err)
		}
		tp.From, tp.fromAddr = display, addr
	}
	text := body[i:]
	for len(text) > 0 && strings.TrimSpace(text[len(text)-1]) == "" {
		text = text[:len(text)-1] // the recipients list follows one empty line
	}
	for j, s := range text {
		line := first + i + j
		u, err := tp.decode(s)
		if err == nil {
			err = noControl(u)
		}
		if err != nil {
			return nil, fail(line, "%v", err)
		}
		// Checked here, with the widest values: a name Sluice cannot
		// expand fails the file at start, as in Postfix's postconf -b,
		// not the report that first uses it; so does a line that could
		// pass 998 characters (RFC 5322 §2.1.1), $myhostname at the 253
		// of a DNS name.
		x, err := expand(u, values{host: strings.Repeat("h", 253)})
		if err != nil {
			return nil, fail(line, "%v", err)
		}
		if out, _ := tp.encode(x); len(out) > maxTextLine {
			return nil, fail(line, "a line of %d characters with its $names expanded ($myhostname as 253): a line of a message has at most %d (RFC 5322 §2.1.1)", len(out), maxTextLine)
		}
		tp.text = append(tp.text, textLine{line, u})
	}
	return tp, nil
}

// maxTextLine is the longest line of a template's text, in octets,
// without its CRLF (RFC 5322 §2.1.1).
const maxTextLine = 998

// noControl refuses a control character other than tab in a header
// value or a line of text: RFC 5322 allows none (§3.2.5, §2.3), and a
// CR or NUL in the file would be a bare CR or NUL in the report, which
// a server may refuse (RFC 5321 §2.3.8).
func noControl(s string) error {
	for _, r := range s {
		if r < ' ' && r != '\t' || r == 0x7f {
			return fmt.Errorf("a control character (U+%04X): a template has text and tabs only", r)
		}
	}
	return nil
}

// headerName is the length of the header field name line begins with
// (before any white space and the colon), 0 when it is no header line:
// Postfix's is_header, printable ASCII then optional white space then
// ':'.
func headerName(line string) int {
	n := 0
	for n < len(line) && line[n] > ' ' && line[n] < 0x7f && line[n] != ':' {
		n++
	}
	if n == 0 {
		return 0
	}
	rest := strings.TrimLeft(line[n:], " \t")
	if !strings.HasPrefix(rest, ":") {
		return 0
	}
	return n
}

// splitFrom splits a From header's value into its display name and
// address, written "Name <addr>", "\"Name\" <addr>", "addr (Name)" (as
// Postfix's built-in "MAILER-DAEMON (Mail Delivery System)") or "addr".
func splitFrom(v string) (display, addr string, err error) {
	rest := ""
	switch {
	case strings.Contains(v, "<"):
		// The last <: a quoted display name may hold one.
		i, j := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>')
		if j < i {
			return "", "", fmt.Errorf("a < without a >")
		}
		display, addr, rest = v[:i], v[i+1:j], v[j+1:]
	case strings.Contains(v, "("):
		i, j := strings.IndexByte(v, '('), strings.LastIndexByte(v, ')')
		if j < i {
			return "", "", fmt.Errorf("a ( without a )")
		}
		addr, display, rest = v[:i], v[i+1:j], v[j+1:]
	default:
		addr = v
	}
	display, addr = strings.TrimSpace(display), strings.TrimSpace(addr)
	if strings.TrimSpace(rest) != "" {
		return "", "", fmt.Errorf("text after the address")
	}
	if addr == "" || strings.ContainsAny(addr, " \t<>()") {
		return "", "", fmt.Errorf("no address (want Name <MAILER-DAEMON>)")
	}
	if len(display) >= 2 && display[0] == '"' && display[len(display)-1] == '"' {
		display = unquote(display[1 : len(display)-1])
	}
	return display, addr, nil
}

// unquote is the content of a quoted-string (RFC 5322 §3.2.4).
func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
