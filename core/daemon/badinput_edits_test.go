package daemon

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A plugin's header edit with a value holding CR, LF or NUL, or a name
// with a colon, a space, a line break or nothing at all, must not corrupt
// or inject into the relayed message: the core refuses the edit (shown in
// the trace as ignored) and the message goes on as it was.
func TestBadInputBadHeaderEdits(t *testing.T) {
	for _, tc := range []struct{ name, op, hname, value string }{
		{"CRLF in value", "add_header", "X-Bad", "v\r\nBcc: victim@remote.test"},
		{"bare LF in value", "add_header", "X-Bad", "v\nBcc: victim@remote.test"},
		{"bare CR in value", "add_header", "X-Bad", "v\rBcc: victim@remote.test"},
		{"CRLF CRLF in value", "add_header", "X-Bad", "v\r\n\r\ninjected body"},
		{"NUL in value", "add_header", "X-Bad", "v\x00w"},
		{"change with CRLF", "change_header", "Subject", "s\r\nBcc: victim@remote.test"},
		{"insert with LF", "insert_header", "X-Bad", "v\nBcc: victim@remote.test"},
		{"colon in name", "add_header", "Bcc: victim@remote.test\r\nX-Bad", "v"},
		{"space in name", "add_header", "X Bad", "v"},
		{"colon only", "add_header", "X-Bad:", "v"},
		{"empty name", "add_header", "", "v"},
		{"LF in name", "add_header", "X-Bad\nBcc", "v"},
		{"NUL in name", "add_header", "X-Bad\x00", "v"},
		{"8-bit name", "add_header", "X-B\xc3\xa4d", "v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, _ := json.Marshal(map[string]any{"data": map[string]any{"*": map[string]any{"edits": []map[string]any{
				{"op": tc.op, "name": tc.hname, "value": tc.value},
				{"op": "add_header", "name": "X-Good", "value": "kept"},
			}}}})
			sink := testlib.NewSink(t, "127.0.0.1:0")
			addr, rec := startRecMilter(t)
			d := startDaemon(t, relayTo(sink)+actorStage(t, "a", string(spec), "")+milterStage("m", addr, ""))
			r, err := send(t, d, "edit")
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
			hdr, body, ok := strings.Cut(got, "\r\n\r\n")
			if !ok || body != "body of edit\r\n" {
				t.Fatalf("body changed:\n%q", got)
			}
			if strings.Contains(got, "victim") || strings.Contains(got, "X-Bad") || strings.ContainsAny(hdr, "\x00") {
				t.Fatalf("bad edit reached the message:\n%q", got)
			}
			for _, line := range strings.Split(hdr, "\r\n") {
				if strings.ContainsAny(line, "\r\n") {
					t.Fatalf("bare line break in the header:\n%q", got)
				}
			}
			if !strings.Contains(hdr, "\r\nSubject: edit\r\n") || !strings.Contains(hdr, "\r\nX-Good: kept\r\n") || !strings.Contains(hdr, "\r\nX-Milter: seen") {
				t.Fatalf("message lost a field:\n%q", got)
			}
			if len(rec.all()[0].Headers) == 0 {
				t.Fatalf("milter saw no header")
			}
			var edits []string
			for _, e := range dataTrace(t, d, queuedID(t, r)) {
				edits = append(edits, e.Edits...)
			}
			if len(edits) < 2 || !strings.Contains(edits[0], "(refused: ") || strings.Contains(edits[1], "refused") {
				t.Fatalf("trace does not show the refused edit: %q", edits)
			}
		})
	}
}
