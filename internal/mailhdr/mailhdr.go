// Package mailhdr finds the header fields of a message (RFC 5322 §2.2),
// one rule shared by the listener, which measures the header section, and
// the pipeline, which parses it, so that both agree on where the body
// begins.
package mailhdr

import "bytes"

// Field returns the length of the header field that begins b, with its
// continuation lines (those that begin with a space or a tab) and the
// line end of its last line, and the index of the colon after its name;
// ok is false when b does not begin with a field: no colon, an empty
// name, or a space or tab in the name.
func Field(b []byte) (end, colon int, ok bool) {
	for {
		nl := bytes.IndexByte(b[end:], '\n')
		if nl < 0 {
			end = len(b)
			break
		}
		end += nl + 1
		if end >= len(b) || (b[end] != ' ' && b[end] != '\t') {
			break
		}
	}
	colon = bytes.IndexByte(b[:end], ':')
	if colon <= 0 || bytes.ContainsAny(b[:colon], " \t") {
		return end, colon, false
	}
	return end, colon, true
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
