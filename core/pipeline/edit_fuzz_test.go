package pipeline

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// FuzzHeaderEdit applies one header edit a stage asks for to a hostile
// message: an edit fieldEditError lets through never adds a field of its
// own, ends the header section early or touches the body (RFC 5322 §2.2),
// and the rendered message parses back to the edited fields.
func FuzzHeaderEdit(f *testing.F) {
	for _, s := range []struct {
		msg, name, value string
		kind, idx        int
	}{
		{"Subject: hi\r\nFrom: a@example.org\r\n\r\nbody\r\n", "X-Spam", "yes", 0, 0},
		{"Subject: hi\r\n\r\n", "Subject", "changed\r\n folded", 2, 1},
		{"A: 1\r\nA: 2\r\n\r\nb", "a", "", 2, 2},
		{"A: 1\r\n\r\n", "X", "v\n\tlf fold", 1, 5},
		{"A: 1\r\n\r\n", "X", "v\r\n\r\nBcc: x", 0, 0},
		{"no header\r\n\r\nbody", "X", "v", 3, -1},
	} {
		f.Add([]byte(s.msg), s.name, s.value, s.kind, s.idx)
	}
	f.Fuzz(func(t *testing.T, raw []byte, name, value string, kind, idx int) {
		if len(raw) == 0 || raw[len(raw)-1] != '\n' {
			// SMTP DATA always ends in a line break (RFC 5321 §4.1.1.4).
			raw = append(raw, '\r', '\n')
		}
		var e sdk.Edit
		switch uint(kind) % 4 {
		case 0:
			e = sdk.AddHeader{Name: name, Value: value}
		case 1:
			e = sdk.InsertHeader{Index: idx, Name: name, Value: value}
		case 2:
			e = sdk.ChangeHeader{Name: name, Occurrence: idx, Value: value}
		default:
			e = sdk.DeleteHeader{Name: name, Occurrence: idx}
		}
		m := ParseMessage(raw)
		before := len(m.Headers())
		body := append([]byte(nil), m.Body()...)
		applied := m.applyHeaderOrBody(e)
		after := m.Headers()
		if !applied && len(after) != before {
			t.Fatalf("edit %#v refused but the fields went from %d to %d", e, before, len(after))
		}
		if d := len(after) - before; d < -1 || d > 1 {
			t.Fatalf("edit %#v changed the field count by %d", e, d)
		}
		again := ParseMessage(m.Bytes())
		got := again.Headers()
		if len(got) != len(after) {
			t.Fatalf("edit %#v: %d fields, %d after rendering:\n%q", e, len(after), len(got), m.Bytes())
		}
		for i := range got {
			if got[i].Name != after[i].Name {
				t.Fatalf("field %d: %q, %q after rendering", i, after[i].Name, got[i].Name)
			}
			// Rendering puts ": " before a value and parsing takes the
			// white space after the colon off.
			want := strings.TrimLeft(strings.ReplaceAll(after[i].Value, "\r\n", "\n"), " \t")
			if after[i].Raw == nil && strings.ReplaceAll(got[i].Value, "\r\n", "\n") != want {
				t.Fatalf("field %d %q: value %q, %q after rendering", i, got[i].Name, after[i].Value, got[i].Value)
			}
		}
		if !bytes.Equal(again.Body(), body) {
			t.Fatalf("edit %#v changed the body: %q -> %q", e, body, again.Body())
		}
	})
}

// FuzzVerdictReply: whatever code, enhanced code and text a stage puts in
// its verdict, the reply Sluice sends has a code of the verdict's class,
// an enhanced code of the same class or none (RFC 3463 §2), and one line
// of printable text that fits 512 octets (RFC 5321 §4.5.3.1.5).
func FuzzVerdictReply(f *testing.F) {
	f.Add(true, 550, "5.7.1", "go away")
	f.Add(false, 421, "4.2.0", "later\r\n250 injected")
	f.Add(true, 250, "2.0.0", strings.Repeat("\u00e9", 400))
	f.Add(false, 499, "5.1.1", "\x1b[31mred\x00")
	f.Fuzz(func(t *testing.T, reject bool, code int, enh, text string) {
		v := sdk.Verdict{Action: sdk.ActionTempfail, Reply: &sdk.Reply{Code: code, Enhanced: enh, Text: text}}
		class := 4
		if reject {
			v.Action, class = sdk.ActionReject, 5
		}
		r := verdictReply(v)
		if r.Code/100 != class {
			t.Fatalf("code %d for class %d", r.Code, class)
		}
		if r.Enhanced != [3]int{} && r.Enhanced[0] != class {
			t.Fatalf("enhanced %v for class %d", r.Enhanced, class)
		}
		line := r.String()
		if len(line)+2 > maxReplyLine {
			t.Fatalf("reply line of %d octets", len(line)+2)
		}
		for _, c := range []byte(line) {
			if c < ' ' && c != '\t' || c == 0x7f {
				t.Fatalf("control %#x in %q", c, line)
			}
		}
	})
}
