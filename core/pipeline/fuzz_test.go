package pipeline

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParseMessage: header parsing never panics, a field's Raw starts with
// its name and colon (white space between allowed), and rendering a parsed
// message then parsing it again gives the same header fields (Raw
// included) and body.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		"Subject: hi\r\nFrom: a@example.org\r\n\r\nbody\r\n",
		"Received: from x\r\n\tby y; date\r\nSubject: folded\r\n continued\r\n\r\n",
		"no header line\r\n\r\nbody",
		"A: b\nC: d\n\nbare LF body\n",
		"\r\nonly body",
		"X-Empty:\r\n\r\n",
		"Bad Name: x\r\n\r\n",
		": no name\r\n\r\n",
		"A: b\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := ParseMessage(raw)
		out := m.Bytes()
		again := ParseMessage(out)
		if !reflect.DeepEqual(m.Headers(), again.Headers()) {
			t.Fatalf("headers changed on a round trip:\n%q\n%q", m.Headers(), again.Headers())
		}
		for _, h := range m.Headers() {
			// Raw, when set, is the field itself: its name, then the colon,
			// with white space between them allowed (RFC 5322 §4.5,
			// obs-optional; mailhdr.Field).
			rest, ok := bytes.CutPrefix(h.Raw, []byte(h.Name))
			if h.Raw != nil && (!ok || !bytes.HasPrefix(bytes.TrimLeft(rest, " \t"), []byte(":"))) {
				t.Fatalf("field %q has Raw %q", h.Name, h.Raw)
			}
		}
		if !bytes.Equal(m.Body(), again.Body()) {
			t.Fatalf("body changed on a round trip: %q -> %q", m.Body(), again.Body())
		}
	})
}
