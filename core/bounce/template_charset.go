package bounce

import (
	"fmt"
	"strings"
	"unicode/utf8"

	xencoding "golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
)

// lookupCharset returns the charset a template's Charset: names, as its
// text part's Content-Type names it, and its encoding (nil for utf-8 and
// us-ascii, which need none). It must be a superset of US-ASCII, as
// bounce(5) asks: the recipients list and the header of the part are
// ASCII written after the template's text (UTF-16 is not).
func lookupCharset(name string) (string, xencoding.Encoding, error) {
	switch strings.ToLower(name) {
	case "utf-8", "utf8":
		return "utf-8", nil, nil
	case "us-ascii", "ascii":
		return "us-ascii", nil, nil
	}
	enc, err := ianaindex.MIME.Encoding(name)
	if err != nil || enc == nil {
		return "", nil, fmt.Errorf("unknown charset %q (want an IANA name such as utf-8, iso-8859-1 or windows-1252)", name)
	}
	if out, err := enc.NewEncoder().String("Az09 $<>:\r\n"); err != nil || out != "Az09 $<>:\r\n" {
		return "", nil, fmt.Errorf("charset %q is not a superset of US-ASCII", name)
	}
	canon, err := ianaindex.MIME.Name(enc)
	if err != nil || canon == "" {
		canon = name
	}
	return strings.ToLower(canon), enc, nil
}

// decode returns s, written in the template's charset, as UTF-8, or an
// error when it is not valid there (Postfix refuses 8-bit text in a
// us-ascii template; Sluice checks every charset).
func (tp *Template) decode(s string) (string, error) {
	switch {
	case tp.Charset == "us-ascii" && !ascii(s):
		return "", fmt.Errorf("8-bit text in a us-ascii template: name its charset in a Charset: header")
	case tp.enc == nil && !utf8.ValidString(s):
		return "", fmt.Errorf("text that is not UTF-8: name its charset in a Charset: header")
	case tp.enc == nil:
		return s, nil
	}
	u, err := tp.enc.NewDecoder().String(s)
	if err != nil || strings.ContainsRune(u, utf8.RuneError) {
		return "", fmt.Errorf("text that is not valid %s", tp.Charset)
	}
	return u, nil
}

// encode returns text, UTF-8, in the template's charset, and the charset
// to declare: a character the charset has not (a recipient's UTF-8
// address, a server's reply) becomes '?'. A us-ascii template's part is
// declared utf-8 when text is not ASCII, UTF-8 being its superset.
func (tp *Template) encode(text string) (string, string) {
	switch {
	case tp.Charset == "us-ascii" && !ascii(text):
		return text, "utf-8"
	case tp.enc == nil:
		return text, tp.Charset
	}
	e := tp.enc.NewEncoder()
	if out, err := e.String(text); err == nil {
		return out, tp.Charset
	}
	// Each character the charset has not is replaced, then the whole is
	// encoded at once: a stateful charset (ISO-2022-JP) keeps its shifts.
	var b strings.Builder
	for _, r := range text {
		if r >= utf8.RuneSelf {
			if _, err := e.String(string(r)); err != nil {
				r = '?'
			}
		}
		b.WriteRune(r)
	}
	out, err := e.String(b.String())
	if err != nil {
		return text, "utf-8" // not reached: every character was checked
	}
	return out, tp.Charset
}
