// Package mailhdr finds the header fields of a message (RFC 5322 §2.2),
// one rule shared by the listener, which measures the header section, and
// the pipeline, which parses it, so that both agree on where the body
// begins.
package mailhdr

import "bytes"

// Span locates the header field at the start of some bytes.
type Span struct {
	End   int // the field's length: continuation lines and last line end included
	Name  int // the field name's length, without white space before the colon
	Colon int // the colon's index
}

// Field locates the header field that begins b, with its continuation
// lines (those that begin with a space or a tab). ok is false when b does
// not begin with a field: no colon, an empty name, or a name with a
// control character, a space or a tab in it. White space between the name
// and the colon is allowed (RFC 5322 §4.5, obs-optional), as Postfix's
// is_header() allows it.
func Field(b []byte) (f Span, ok bool) {
	for {
		nl := bytes.IndexByte(b[f.End:], '\n')
		if nl < 0 {
			f.End = len(b)
			break
		}
		f.End += nl + 1
		if f.End >= len(b) || (b[f.End] != ' ' && b[f.End] != '\t') {
			break
		}
	}
	f.Colon = bytes.IndexByte(b[:f.End], ':')
	if f.Colon <= 0 {
		return f, false
	}
	f.Name = len(bytes.TrimRight(b[:f.Colon], " \t"))
	if f.Name == 0 {
		return f, false
	}
	for _, c := range b[:f.Name] {
		if c <= ' ' || c == 0x7f {
			return f, false
		}
	}
	return f, true
}

// BlankLine reports whether b begins with the empty line that ends the
// header section (CRLF, or a bare LF), and its length.
func BlankLine(b []byte) (n int, ok bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 2, true
	case len(b) > 0 && b[0] == '\n':
		return 1, true
	}
	return 0, false
}
