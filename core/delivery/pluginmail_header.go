package delivery

import (
	"bytes"
	"errors"
	"fmt"
)

// pluginHeaderError refuses a plugin's message (lines ending in CRLF)
// whose header section is not one: each line before the first empty one
// must be a field, a name of printable ASCII but ':' then ':' (RFC 5322
// §2.2), or the folded continuation of one (§2.2.3); a body written
// without the empty line before it, or a field with a bare CR in it,
// would otherwise go out as broken header lines. It must have a From
// field (§3.6): the core adds none, and a message without one is refused
// by most receivers and cannot be DKIM-signed for its author.
func pluginHeaderError(msg []byte) error {
	from := false
	for n := 1; len(msg) > 0; n++ {
		i := bytes.Index(msg, []byte("\r\n"))
		line := msg[:i] // crlfMessage ends every line with CRLF
		msg = msg[i+2:]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n == 1 {
				return errors.New("header: the message begins with a continuation line")
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("header: line %d is no field (name: value); is the empty line between header and body missing?", n)
		}
		for _, c := range line[:colon] {
			if c < 33 || c > 126 {
				return fmt.Errorf("header: line %d: field name %q is not printable ASCII (RFC 5322 §2.2)", n, line[:colon])
			}
		}
		from = from || bytes.EqualFold(line[:colon], []byte("From"))
	}
	if !from {
		return errors.New("header: no From field (RFC 5322 §3.6)")
	}
	return nil
}
