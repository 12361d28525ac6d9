package filter

import (
	"bytes"
	"iter"
	"net/textproto"
	"strings"
)

// The MIME walk works on slices of the message, never on copies of its
// parts. A part copied out of its parent at every level (what reading a
// multipart.Reader or a mail.Message into memory does) makes a message
// nested 100 levels deep cost 100 times its size: a 5 MB message took a
// gigabyte, one at the 50 MB SIZE limit would take ten.

// multipartParts yields the body parts of a multipart body with the given
// boundary (RFC 2046 §5.1.1): what lies between a delimiter line
// ("--boundary", then optional white space) and the next delimiter line,
// without the line break before that delimiter, which belongs to it. The
// preamble and the epilogue after the close delimiter ("--boundary--")
// are not parts; a body that is never closed ends its last part at its
// end. The parts are yielded as they are found, so that a walk that stops
// early does not pay for the rest.
func multipartParts(body []byte, boundary string) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		delim := []byte("--" + boundary)
		start := -1 // where the current part begins, once a delimiter was seen
		for pos := 0; pos < len(body); {
			line, next := body[pos:], len(body)
			if i := bytes.IndexByte(line, '\n'); i >= 0 {
				line, next = line[:i], pos+i+1
			}
			if rest, ok := bytes.CutPrefix(line, delim); ok {
				rest = bytes.TrimRight(rest, " \t\r")
				closing := bytes.Equal(rest, []byte("--"))
				if closing || len(rest) == 0 {
					if start >= 0 && !yield(trimLineBreak(body[start:pos])) || closing {
						return
					}
					start = next
				}
			}
			pos = next
		}
		if start >= 0 && start < len(body) {
			yield(body[start:])
		}
	}
}

// trimLineBreak removes one CRLF (or bare LF) from the end of b.
func trimLineBreak(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// splitEntity parses the header section of an entity (a body part, or an
// attached message) and returns it with the entity's body, a slice of b.
// The header section ends at the first empty line (RFC 5322 §2.1); an
// entity without one is all header. It is read as a mail client reads
// it, leniently: a line that is no field (no colon, a name with white
// space, a continuation with no field before it) is skipped. A strict
// parser gave up on the whole multipart at such a line, so one broken
// header hid every later part, an executable included, from the
// attachment rules, while Thunderbird and Outlook still showed it.
func splitEntity(b []byte) (textproto.MIMEHeader, []byte) {
	header, body := b, []byte(nil)
	for pos := 0; pos < len(b); {
		line, next := b[pos:], len(b)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], pos+i+1
		}
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			header, body = b[:pos], b[next:]
			break
		}
		pos = next
	}
	h := textproto.MIMEHeader{}
	key := ""      // the field a continuation line belongs to
	var val []byte // its value so far, unfolded
	// A field's value is built up and stored once it ends: joining each
	// continuation line to a string of the value so far copied it at
	// every line, and a part header of 40,000 one-character continuation
	// lines (160 KB) took a second, 1.6 MB a hundred.
	done := func() {
		if key != "" {
			h[key] = append(h[key], string(bytes.TrimSpace(val)))
		}
	}
	for line := range bytes.Lines(header) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			// RFC 5322 §2.2.3: unfolded with one space.
			if t := bytes.TrimSpace(line); key != "" && len(t) > 0 {
				val = append(append(val, ' '), t...)
			}
			continue
		}
		done()
		name, value, ok := bytes.Cut(line, []byte(":"))
		n := strings.TrimRight(string(name), " \t")
		if !ok || n == "" || strings.ContainsAny(n, " \t") {
			key = ""
			continue
		}
		key = textproto.CanonicalMIMEHeaderKey(n)
		val = append(val[:0], bytes.TrimSpace(value)...)
	}
	done()
	return h, body
}
