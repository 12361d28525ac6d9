package pipeline

import "testing"

// A field with white space before its colon (RFC 5322 §4.5, obs-optional)
// is a header field named without it, and the message renders back byte
// for byte: it used to end the header section there, putting it and the
// fields after it in the body (and breaking a c=simple DKIM signature).
func TestObsoleteFieldNameSpace(t *testing.T) {
	raw := "From: Bob <b@other.test>\r\nSubject :  spaced name\r\nX-After: yes\r\n\r\nbody\r\n"
	m := ParseMessage([]byte(raw))
	hs := m.Headers()
	if len(hs) != 3 || hs[1].Name != "Subject" || hs[1].Value != "spaced name" || hs[2].Name != "X-After" {
		t.Fatalf("headers %+v", hs)
	}
	if got := string(m.Body()); got != "body\r\n" {
		t.Fatalf("body %q", got)
	}
	if got := string(m.Bytes()); got != raw {
		t.Fatalf("rendered\n%q\nwant\n%q", got, raw)
	}
}
