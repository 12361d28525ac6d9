package sdktest

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

func TestParseMessage(t *testing.T) {
	m, err := ParseMessage([]byte("Subject: hello\nX-Folded: a,\n\tb\nEmpty:\n\nbody\nline 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.Header{
		{Name: "Subject", Value: "hello", Raw: []byte("Subject: hello")},
		{Name: "X-Folded", Value: "a,\r\n\tb", Raw: []byte("X-Folded: a,\r\n\tb")},
		{Name: "Empty", Value: "", Raw: []byte("Empty:")},
	}
	if !reflect.DeepEqual(m.Headers, want) {
		t.Errorf("headers = %q, want %q", m.Headers, want)
	}
	if string(m.Body) != "body\r\nline 2\r\n" || m.BodySize != int64(len(m.Body)) {
		t.Errorf("body = %q (size %d)", m.Body, m.BodySize)
	}
}

func TestParseMessageEdges(t *testing.T) {
	if m, err := ParseMessage([]byte("\r\nonly body")); err != nil || len(m.Headers) != 0 || string(m.Body) != "only body" {
		t.Errorf("no headers: %+v, %v", m, err)
	}
	if m, err := ParseMessage([]byte("Subject: x\r\n")); err != nil || len(m.Headers) != 1 || m.Body == nil || len(m.Body) != 0 {
		t.Errorf("no body: %+v, %v", m, err)
	}
	if _, err := ParseMessage([]byte("not a header\r\n\r\n")); err == nil {
		t.Error("line without a colon parsed")
	}
	if _, err := ParseMessage([]byte(" continuation\r\n\r\n")); err == nil {
		t.Error("leading continuation line parsed")
	}
}

func TestFormatRoundTrip(t *testing.T) {
	raw := []byte("Subject: hello\r\nX-Folded: a,\r\n\tb\r\n\r\nbody\r\n")
	m, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if out := Format(m); !bytes.Equal(out, raw) {
		t.Errorf("Format = %q, want %q", out, raw)
	}
}

// A field keeps its spelling as received until an edit touches it; then,
// as in the core, it loses Raw and is rendered as "Name: value".
func TestRawSpellingAndEdits(t *testing.T) {
	raw := []byte("Subject:hello\r\nTo:\tbob@example.net,\r\n\tcarol@example.net\r\nX-A:1\r\n\r\nbody\r\n")
	m, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.Headers[1].Raw); got != "To:\tbob@example.net,\r\n\tcarol@example.net" {
		t.Errorf("folded Raw = %q", got)
	}
	if out := Format(m); !bytes.Equal(out, raw) {
		t.Errorf("Format = %q, want the input", out)
	}
	ApplyEdits(m, []sdk.Edit{
		sdk.ChangeHeader{Name: "X-A", Value: "2"},
		sdk.AddHeader{Name: "X-B", Value: "b"},
		sdk.InsertHeader{Index: 0, Name: "X-C", Value: "c"},
	})
	for _, h := range m.Headers {
		edited := h.Name != "Subject" && h.Name != "To"
		if edited == (h.Raw != nil) {
			t.Errorf("%s: Raw %q after the edits", h.Name, h.Raw)
		}
	}
	want := "X-C: c\r\nSubject:hello\r\nTo:\tbob@example.net,\r\n\tcarol@example.net\r\nX-A: 2\r\nX-B: b\r\n\r\nbody\r\n"
	if out := string(Format(m)); out != want {
		t.Errorf("Format after edits = %q, want %q", out, want)
	}
}
