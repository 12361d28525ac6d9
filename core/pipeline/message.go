package pipeline

import (
	"errors"
	"strings"

	"github.com/sluice-mta/sluice/internal/mailhdr"
	"github.com/sluice-mta/sluice/sdk"
)

// field is one header field. raw keeps the field's original bytes
// (including its CRLF) so an untouched message is passed on byte for byte.
type field struct {
	name, value string
	raw         []byte
}

// Message is a message being edited by the pipeline: its header fields in
// order and its body. Fields never edited keep their original bytes.
type Message struct {
	fields []field
	body   []byte
	// orig is the input when Bytes of the unedited message gives it back
	// unchanged (its header ended with CRLF CRLF); nil once edited, so an
	// untouched message — most of them — is passed on without a copy.
	orig []byte
}

// ParseMessage splits raw RFC 5322 bytes into header fields and body
// (RFC 5322 §2.2: fields up to the first empty line; continuation lines
// start with whitespace). A message with no blank line is all header, and
// a first line that is not a field makes the whole input body.
func ParseMessage(raw []byte) *Message {
	m := &Message{}
	rest := raw
	for len(rest) > 0 {
		if n, ok := mailhdr.BlankLine(rest); ok {
			m.body = rest[n:]
			if n == 2 {
				m.orig = raw
			}
			return m
		}
		f, ok := mailhdr.Field(rest)
		if !ok {
			// Not a header field: treat the remainder as body, keeping bytes.
			m.body = rest
			return m
		}
		line := rest[:f.End]
		value := strings.TrimRight(string(line[f.Colon+1:]), "\r\n")
		value = strings.TrimLeft(value, " \t")
		m.fields = append(m.fields, field{name: string(line[:f.Name]), value: value, raw: line})
		rest = rest[f.End:]
	}
	return m
}

// Bytes renders the message: header fields, the empty line, the body.
func (m *Message) Bytes() []byte {
	if m.orig != nil {
		return m.orig
	}
	n := len(m.body) + 2
	for _, f := range m.fields {
		n += len(f.raw) + len(f.name) + len(f.value) + 4
	}
	out := make([]byte, 0, n)
	for _, f := range m.fields {
		if f.raw != nil {
			out = append(out, f.raw...)
		} else {
			out = append(out, f.name...)
			out = append(out, ':', ' ')
			out = append(out, normalizeFolding(f.value)...)
			out = append(out, '\r', '\n')
		}
	}
	out = append(out, '\r', '\n')
	return append(out, m.body...)
}

// normalizeFolding turns bare LF folding (as some milters send) into CRLF.
func normalizeFolding(v string) string {
	if !strings.Contains(v, "\n") {
		return v
	}
	v = strings.ReplaceAll(v, "\r\n", "\n")
	return strings.ReplaceAll(v, "\n", "\r\n")
}

// Headers returns the header fields for a stage. A field as received
// carries its original bytes in Raw (for DKIM's simple canonicalization,
// RFC 6376 §3.4.1); a field a stage added, inserted or changed has none,
// so no later stage trusts a spelling that is no longer the field's.
func (m *Message) Headers() []sdk.Header {
	hs := make([]sdk.Header, len(m.fields))
	for i, f := range m.fields {
		hs[i] = sdk.Header{Name: f.name, Value: f.value, Raw: trimLineBreak(f.raw)}
	}
	return hs
}

// trimLineBreak returns a field's raw bytes without the CRLF (or bare LF)
// that ends it, capped so that appending to it cannot overwrite the next
// field; nil stays nil.
func trimLineBreak(raw []byte) []byte {
	if raw == nil {
		return nil
	}
	n := len(raw)
	if n > 0 && raw[n-1] == '\n' {
		n--
		if n > 0 && raw[n-1] == '\r' {
			n--
		}
	}
	return raw[:n:n]
}

// Body returns the body (after the empty line).
func (m *Message) Body() []byte { return m.body }

// Get returns the first value of the named field, or "".
func (m *Message) Get(name string) string {
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// nth returns the index of the occurrence'th (1-based) field named name.
func (m *Message) nth(name string, occurrence int) int {
	if occurrence < 1 {
		occurrence = 1
	}
	seen := 0
	for i, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			seen++
			if seen == occurrence {
				return i
			}
		}
	}
	return -1
}

// fieldEditError says why a header edit would corrupt the message, or
// returns nil. A field name is printable ASCII without a colon (RFC 5322
// §2.2, §3.6.8); a value may hold line breaks only to fold (RFC 5322
// §2.2.3): each followed by a space or tab and more than white space, so
// that no edit can end the header section early, add a field of its own
// (header injection) or leave a bare CR; and no NUL. DeleteHeader and
// body edits cannot do any of that.
func fieldEditError(e sdk.Edit) error {
	var name, value string
	switch e := e.(type) {
	case sdk.AddHeader:
		name, value = e.Name, e.Value
	case sdk.InsertHeader:
		name, value = e.Name, e.Value
	case sdk.ChangeHeader:
		name, value = e.Name, e.Value
	default:
		return nil
	}
	if err := sdk.CheckFieldName(name); err != nil {
		return err
	}
	for i := 0; i < len(value); i++ {
		switch value[i] {
		case 0:
			return errors.New("field value has a NUL")
		case '\r':
			if i+1 >= len(value) || value[i+1] != '\n' {
				return errors.New("field value has a bare CR")
			}
		case '\n':
			// A fold: white space, then something else on the line.
			rest := value[i+1:]
			line := rest
			if j := strings.IndexAny(rest, "\r\n"); j >= 0 {
				line = rest[:j]
			}
			if line == "" || (line[0] != ' ' && line[0] != '\t') || strings.Trim(line, " \t") == "" {
				return errors.New("field value has a line break that is not a fold (header injection)")
			}
		}
	}
	return nil
}

// applyHeaderOrBody applies a header or body edit; it reports whether e
// was one and was applied: a header edit that fieldEditError refuses is
// not.
func (m *Message) applyHeaderOrBody(e sdk.Edit) bool {
	if fieldEditError(e) != nil {
		return false
	}
	switch e := e.(type) {
	case sdk.AddHeader:
		m.fields = append(m.fields, field{name: e.Name, value: e.Value})
	case sdk.InsertHeader:
		i := e.Index
		if i < 0 {
			i = 0
		}
		if i > len(m.fields) {
			i = len(m.fields)
		}
		m.fields = append(m.fields, field{})
		copy(m.fields[i+1:], m.fields[i:])
		m.fields[i] = field{name: e.Name, value: e.Value}
	case sdk.ChangeHeader:
		i := m.nth(e.Name, e.Occurrence)
		switch {
		case i >= 0 && e.Value == "":
			// Milter semantics: changing to an empty value deletes.
			m.fields = append(m.fields[:i], m.fields[i+1:]...)
		case i >= 0:
			m.fields[i] = field{name: m.fields[i].name, value: e.Value}
		case e.Value != "":
			m.fields = append(m.fields, field{name: e.Name, value: e.Value})
		}
	case sdk.DeleteHeader:
		if i := m.nth(e.Name, e.Occurrence); i >= 0 {
			m.fields = append(m.fields[:i], m.fields[i+1:]...)
		}
	case sdk.ReplaceBody:
		m.body = CRLFLines(e.Body)
	default:
		return false
	}
	m.orig = nil
	return true
}

// CRLFLines returns b with every line ending in CRLF (RFC 5322 §2.3: CR
// and LF occur only together), for a replaced body here and a plugin's
// message in core/delivery. A bare LF, as milters write bodies, and a
// bare CR alike become CRLF, as normalizeFolding does for a header:
// delivery would turn a bare LF into CRLF anyway, but pass a bare CR on,
// and "<CR>.<CR>" is the end of data to some next hops (the smuggling
// smtpd refuses inbound with 550 5.5.2). Normalising here rather than at
// delivery means the later stages (a DKIM signer) see the bytes that are
// sent. Bytes without a bare CR or LF are returned as they are, not
// copied.
func CRLFLines(b []byte) []byte {
	bare := false
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') || c == '\n' && (i == 0 || b[i-1] != '\r') {
			bare = true
			break
		}
	}
	if !bare {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/16)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// RemoveFields deletes every header field for which drop returns true and
// reports how many went.
func (m *Message) RemoveFields(drop func(name, value string) bool) int {
	kept := m.fields[:0]
	n := 0
	for _, f := range m.fields {
		if drop(f.name, f.value) {
			n++
			continue
		}
		kept = append(kept, f)
	}
	m.fields = kept
	if n > 0 {
		m.orig = nil
	}
	return n
}

// Insert puts a header field at index i (0 is the top).
func (m *Message) Insert(i int, name, value string) {
	m.applyHeaderOrBody(sdk.InsertHeader{Index: i, Name: name, Value: value})
}
