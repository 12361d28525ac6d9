package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Malformed header sections through a plugin that adds and changes
// headers and a milter that adds one. What the client sent must arrive
// whole and in order, after our Received; the stages' fields must be in
// the header section (before the first empty line), and the message must
// be well formed: every line before the empty line a field or a
// continuation of one.
func TestBadInputMalformedHeaderSections(t *testing.T) {
	edits := `{"data": {"*": {"edits": [
	  {"op": "add_header", "name": "X-Added", "value": "yes"},
	  {"op": "change_header", "name": "X-Change", "value": "changed"}
	]}}}`
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startRecMilter(t)
	d := startDaemon(t, relayTo(sink)+actorStage(t, "a", edits, "")+milterStage("m", addr, ""))
	for i, tc := range []struct {
		name, msg string
	}{
		{"no colon", "From: <alice@sluice.test>\r\nthis line has no colon\r\nSubject: after\r\n\r\nbody\r\n"},
		{"obs-fold first", " folded first line\r\nSubject: s\r\n\r\nbody\r\n"},
		{"empty name", ": empty name\r\nSubject: s\r\n\r\nbody\r\n"},
		{"space in name", "Bad Name: v\r\nSubject: s\r\n\r\nbody\r\n"},
		{"no separator", "Subject: s\r\nX-Other: o\r\nbody line without a separator\r\n"},
		{"only headers", "Subject: s\r\nX-Other: o\r\n"},
		{"empty", ""},
		{"body only", "\r\njust a body\r\n"},
	} {
		rc := dialRaw(t, d)
		rc.envelope("alice@sluice.test", "bob@remote.test")
		if r := rc.data(tc.msg); !strings.HasPrefix(r, "250") {
			t.Errorf("%s: %q", tc.name, r)
			continue
		}
		got := string(sink.WaitN(t, i+1, 10*time.Second)[i].Data)
		hdr, body, ok := strings.Cut(got, "\r\n\r\n")
		if !ok {
			t.Errorf("%s: no header/body separator in\n%q", tc.name, got)
			continue
		}
		for _, f := range []string{"X-Added: yes", "X-Change: changed", "X-Milter: seen"} {
			if !strings.Contains(hdr+"\r\n", "\r\n"+f+"\r\n") {
				t.Errorf("%s: %q not in the header section:\n%q", tc.name, f, got)
			}
		}
		for _, line := range strings.Split(hdr, "\r\n") {
			if line == "" || line[0] == ' ' || line[0] == '\t' {
				continue
			}
			if c := strings.IndexByte(line, ':'); c <= 0 || strings.ContainsAny(line[:c], " \t") {
				t.Errorf("%s: header line %q is not a field:\n%q", tc.name, line, got)
			}
		}
		// Every line the client sent is there, in order.
		rest := got
		for _, line := range strings.Split(strings.TrimSuffix(tc.msg, "\r\n"), "\r\n") {
			if line == "" {
				continue
			}
			j := strings.Index(rest, line)
			if j < 0 {
				t.Errorf("%s: line %q lost or reordered:\n%q", tc.name, line, got)
				break
			}
			rest = rest[j+len(line):]
		}
		_ = body
	}
}
