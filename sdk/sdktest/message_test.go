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
	want := []sdk.Header{{Name: "Subject", Value: "hello"}, {Name: "X-Folded", Value: "a,\r\n\tb"}, {Name: "Empty", Value: ""}}
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
