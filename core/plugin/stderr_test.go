package plugin

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
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

// TestStderrLogPythonLevels: a JSON line from another language's logger
// keeps its level too. Python's logging names its top level CRITICAL (and
// others write FATAL); both were logged at info, below the plugin's own
// warnings.
func TestStderrLogPythonLevels(t *testing.T) {
	var buf bytes.Buffer
	w := &stderrLog{log: slog.New(slog.NewTextHandler(&buf, nil))}
	w.Write([]byte(`{"level":"CRITICAL","msg":"config file gone"}` + "\n" +
		`{"level":"fatal","msg":"cannot go on"}` + "\n" +
		`{"level":"WARNING","msg":"slow"}` + "\n"))
	got := buf.String()
	for _, want := range []string{
		`level=ERROR msg="config file gone"`,
		`level=ERROR msg="cannot go on"`,
		`level=WARN msg=slow`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// TestStderrLogLongLine: a plugin that writes without a newline costs the
// daemon one cut line, not its whole output: the line is logged cut at
// maxLogLine, the rest of it dropped up to its newline, and the next line
// is logged whole. Before, every byte was kept in memory until a newline
// came (a plugin writing megabytes a second grew the daemon's heap for as
// long as it wrote) and rescanned at each write.
func TestStderrLogLongLine(t *testing.T) {
	var buf bytes.Buffer
	w := &stderrLog{log: slog.New(slog.NewTextHandler(&buf, nil))}
	chunk := bytes.Repeat([]byte("x"), 4096)
	for range 4096 { // 16 MiB without a newline
		w.Write(chunk)
		if len(w.buf) > maxLogLine {
			t.Fatalf("holding %d bytes of an unfinished line, more than %d", len(w.buf), maxLogLine)
		}
	}
	w.Write([]byte("tail\nnext line\n"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the cut line and the next one, got %d lines", len(lines))
	}
	if want := `line=` + strings.Repeat("x", maxLogLine) + ` cut_at=16384`; !strings.Contains(lines[0], want) {
		t.Errorf("first line is not the cut one: %.200s…", lines[0])
	}
	if !strings.Contains(lines[1], `line="next line"`) || strings.Contains(buf.String(), "tail") {
		t.Errorf("second line %q; the cut line's rest must be dropped", lines[1])
	}
}

// TestStderrLogLimit: past the limit, a flood of lines is dropped, and
// how many were is logged once the interval ends; lines below the log's
// level are not counted. The limiter's clock is the test's. Before, a
// plugin writing lines as fast as it could wrote them all to the daemon's
// log (35 MB a second in a test), until its disk was full.
func TestStderrLogLimit(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	lim := &lineLimit{interval: 30 * time.Second, burst: 3, now: func() time.Time { return now }}
	log := slog.New(slog.NewTextHandler(&buf, nil))
	out := &stderrLog{log: log, limit: lim}
	errw := &stderrLog{log: log, msg: "plugin stdout", limit: lim} // shares the limit
	// Debug lines, not shown at info, do not use up the limit.
	out.Write([]byte(strings.Repeat(`{"@level":"debug","@message":"chatter"}`+"\n", 5)))
	out.Write([]byte("1\n2\n"))
	errw.Write([]byte("3\n4\n5\n"))
	out.Write([]byte("6\n"))
	if got := strings.Count(buf.String(), "\n"); got != 3 {
		t.Fatalf("logged %d lines within the interval, want 3:\n%s", got, buf.String())
	}
	now = now.Add(30 * time.Second)
	out.Write([]byte("7\n"))
	got := buf.String()
	if !strings.Contains(got, `level=WARN msg="plugin output was dropped: over the log limit" lines=3 limit=3 per=30s`) {
		t.Errorf("no report of the 3 dropped lines:\n%s", got)
	}
	if !strings.Contains(got, "line=7") || strings.Contains(got, "line=4") {
		t.Errorf("want lines 1-3 and 7 only:\n%s", got)
	}
}

// TestStderrLogByteLimit: the window's bytes are bounded as well as its
// lines, so a few thousand lines cut at maxLogLine are not hundreds of
// megabytes of log. Before, lines of 16 KiB passed until the line count
// ran out (10,000 of them: 160 MB a window).
func TestStderrLogByteLimit(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	lim := &lineLimit{interval: 30 * time.Second, burst: 1000, maxBytes: 250, now: func() time.Time { return now }}
	out := &stderrLog{log: slog.New(slog.NewTextHandler(&buf, nil)), limit: lim}
	line := strings.Repeat("x", 99) + "\n" // 99 bytes logged
	for range 5 {
		out.Write([]byte(line))
	}
	if got := strings.Count(buf.String(), "line=x"); got != 2 {
		t.Fatalf("logged %d lines of 99 bytes under a 250-byte budget, want 2:\n%s", got, buf.String())
	}
	now = now.Add(30 * time.Second)
	out.Write([]byte("after\n"))
	if got := buf.String(); !strings.Contains(got, "lines=3 limit=1000 per=30s max_bytes=250") || !strings.Contains(got, "line=after") {
		t.Errorf("want the 3 dropped lines reported, then the next window's line:\n%s", got)
	}
}

// TestStderrLogDroppedReportedWhenQuiet: a plugin that floods and then
// writes nothing more still has its dropped lines reported once the
// window ends. Before, the report waited for its next line, which may
// never come (a plugin that logs only when something goes wrong).
func TestStderrLogDroppedReportedWhenQuiet(t *testing.T) {
	h := &recordHandler{got: make(chan slog.Record, 10)}
	start := time.Now()
	lim := &lineLimit{interval: 50 * time.Millisecond, burst: 1, now: func() time.Time { return start }}
	out := &stderrLog{log: slog.New(h), limit: lim}
	out.Write([]byte("1\n2\n3\n"))
	for {
		select {
		case r := <-h.got:
			if r.Message != "plugin output was dropped: over the log limit" {
				continue // line 1
			}
			var lines int64
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "lines" {
					lines = a.Value.Int64()
				}
				return true
			})
			if lines != 2 {
				t.Errorf("reported %d dropped lines, want 2", lines)
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("no report of the dropped lines without a further line")
		}
	}
}

// recordHandler sends each record it handles on got.
type recordHandler struct{ got chan slog.Record }

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.got <- r
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }
