package plugin

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// A plugin's log record may carry what a client chose (a filter warn
// rule logs the HELO name, a recipient, a Subject): CR, LF or an ANSI
// escape in it must reach the core's log as one line, escaped, in text
// and in JSON, so that a client can neither forge a line of its own
// (level=ERROR msg=…) nor send escape sequences to an operator's terminal.
func TestStderrLogEscapesClientText(t *testing.T) {
	const hostile = "evil.example\r\nlevel=ERROR msg=forged\x1b[2J\x1b]0;pwned\x07\u202e"
	var rec bytes.Buffer
	// The record as the SDK's logger (sdk.Logger) writes it.
	slog.New(slog.NewJSONHandler(&rec, nil)).Info("filter: warn rule matched", "rule", "try-helo", "why", hostile, "rcpt", hostile)

	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&out, nil)
		if format == "json" {
			h = slog.NewJSONHandler(&out, nil)
		}
		w := &stderrLog{log: slog.New(h)}
		w.Write(rec.Bytes())
		got := out.String()
		if n := strings.Count(got, "\n"); n != 1 || !strings.HasSuffix(got, "\n") {
			t.Fatalf("%s: %d lines, want the record as one:\n%q", format, n, got)
		}
		if strings.ContainsAny(got, "\r\x1b\x07") {
			t.Errorf("%s: a control character reached the log unescaped: %q", format, got)
		}
		// The text form quotes a bidi override too (strconv.Quote); JSON
		// may carry it as it is, as it does the core's own fields.
		if format == "text" && strings.ContainsRune(got, '\u202e') {
			t.Errorf("text: a bidi override reached the log unescaped: %q", got)
		}
		if !strings.Contains(got, "warn rule matched") || !strings.Contains(got, "try-helo") {
			t.Errorf("%s: the record's message or rule is missing: %q", format, got)
		}
		if format == "json" {
			var back map[string]any
			if err := json.Unmarshal([]byte(got), &back); err != nil {
				t.Fatalf("json: %v: %q", err, got)
			}
			if back["why"] != hostile || back["level"] != "INFO" {
				t.Errorf("json: why %q level %v, want the text kept whole, escaped, at info", back["why"], back["level"])
			}
		}
	}
}
