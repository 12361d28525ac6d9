package plugin

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A plugin's JSON log lines keep their level and fields; go-plugin's
// debug "plugin address" line no longer shows at info. Other lines are
// forwarded as they are.
func TestStderrLog(t *testing.T) {
	var buf bytes.Buffer
	w := &stderrLog{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	in := `{"@level":"debug","@message":"plugin address","@timestamp":"2026-11-29T10:00:00Z","address":"/tmp/p","network":"unix"}` + "\n" +
		`{"@level":"error","@message":"plugin panicked","@module":"sluice-plugin","in":"rcpt"}` + "\n" +
		`{"level":"WARN","msg":"slow lookup","time":"2026-11-29T10:00:00Z","took":"2s"}` + "\n" +
		"plain text\npartial"
	// Written in two pieces: a line split across writes is still one line.
	w.Write([]byte(in[:50]))
	w.Write([]byte(in[50:]))
	got := buf.String()
	for _, want := range []string{
		`level=ERROR msg="plugin panicked" from=plugin in=rcpt`,
		`level=WARN msg="slow lookup" from=plugin took=2s`,
		`level=INFO msg="plugin stderr" line="plain text"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "plugin address") || strings.Contains(got, "partial") {
		t.Errorf("debug line shown at info, or an unfinished line logged:\n%s", got)
	}
}
