package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// stderrLog forwards a plugin's output to the log, a line at a time. A
// line that is a JSON log record — hclog's (go-plugin and the SDK write
// those: "@level", "@message") or slog's ("level", "msg") — is logged at
// its own level with its own message and fields, so a plugin's debug
// chatter stays at debug; any other line is logged as it is, with msg
// (default "plugin stderr") at level (default info).
//
// Three of them serve a plugin process: its stderr file, where the log
// package writes (log.Printf, slog's default logger) and a crash's panic
// goes; and the os.Stdout and os.Stderr that go-plugin's Serve redirects
// to the core (fmt.Println, fmt.Fprintln(os.Stderr, …)), at info and warn.
//
// A plugin's output must not cost the daemon more than a log line's
// worth: a line longer than maxLogLine is cut there (the rest, up to its
// newline, is dropped), where it was held in memory whole, so a plugin
// writing without a newline grew the daemon's heap for as long as it
// wrote, and rescanned all of it at each write; and the three share one
// limiter (limit), so a plugin that floods its stderr cannot fill the
// daemon's log and its disk.
type stderrLog struct {
	log   *slog.Logger
	msg   string
	level slog.Level
	limit *lineLimit // nil: no limit
	mu    sync.Mutex
	buf   []byte
	// cut: the line in progress was cut at maxLogLine; its rest is
	// dropped up to its newline.
	cut bool
}

// maxLogLine is the longest line of a plugin's output that is logged; a
// longer one is cut to it.
const maxLogLine = 16 << 10

func (w *stderrLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		piece := rest
		if i >= 0 {
			piece, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if !w.cut {
			room := maxLogLine - len(w.buf)
			if len(piece) > room {
				// The line is too long: log what fits, drop the rest.
				w.buf = append(w.buf, piece[:room]...)
				w.emit(true)
				w.cut = true
			} else {
				w.buf = append(w.buf, piece...)
			}
		}
		if i >= 0 {
			if !w.cut {
				w.emit(false)
			}
			w.buf, w.cut = w.buf[:0], false
		}
	}
	return len(p), nil
}

// emit logs the line in buf; cut says it was cut at maxLogLine.
func (w *stderrLog) emit(cut bool) {
	line := bytes.TrimSpace(w.buf)
	if len(line) == 0 {
		return
	}
	level, msg, attrs := w.parse(line, cut)
	ctx := context.Background()
	if !w.log.Enabled(ctx, level) {
		return // not shown, so not counted against the limit either
	}
	if w.limit != nil {
		ok, dropped := w.limit.allow()
		if dropped > 0 {
			w.log.Warn("plugin output was dropped: over the log limit", "lines", dropped,
				"limit", w.limit.burst, "per", w.limit.interval.String())
		}
		if !ok {
			return
		}
	}
	w.log.Log(ctx, level, msg, attrs...)
}

// parse returns the level, message and attributes one line of the
// plugin's output is logged with; cut says it was cut at maxLogLine.
func (w *stderrLog) parse(line []byte, cut bool) (slog.Level, string, []any) {
	var rec map[string]any
	if cut || line[0] != '{' || json.Unmarshal(line, &rec) != nil {
		msg := w.msg
		if msg == "" {
			msg = "plugin stderr"
		}
		attrs := []any{"line", string(line)}
		if cut {
			attrs = append(attrs, "cut_at", maxLogLine)
		}
		return w.level, msg, attrs
	}
	level, _ := first(rec, "@level", "level").(string)
	msg, _ := first(rec, "@message", "msg").(string)
	for _, k := range []string{"@level", "level", "@message", "msg", "@timestamp", "time", "@module", "@caller"} {
		delete(rec, k)
	}
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if msg == "" {
		msg = "plugin log"
	}
	attrs := []any{"from", "plugin"}
	for _, k := range keys {
		attrs = append(attrs, k, rec[k])
	}
	return levelOf(level), msg, attrs
}

// lineLimit lets burst lines through per interval and counts those it
// drops, as journald's RateLimitIntervalSec= and RateLimitBurst= do for a
// service's output (10000 per 30s by default there too).
type lineLimit struct {
	interval time.Duration
	burst    int
	now      func() time.Time

	mu      sync.Mutex
	start   time.Time // the current interval's
	n       int       // lines let through in it
	dropped int       // lines dropped and not yet reported
}

func newLineLimit() *lineLimit {
	return &lineLimit{interval: 30 * time.Second, burst: 10000, now: time.Now}
}

// allow reports whether one more line may be logged now, and, when an
// interval in which lines were dropped has ended, how many were.
func (l *lineLimit) allow() (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); now.Sub(l.start) >= l.interval {
		l.start, l.n = now, 0
		dropped, l.dropped = l.dropped, 0
	}
	if l.n >= l.burst {
		l.dropped++
		return false, dropped
	}
	l.n++
	return true, dropped
}

// first returns the value of the first of keys rec has.
func first(rec map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := rec[k]; ok {
			return v
		}
	}
	return nil
}

// levelOf maps an hclog or slog level name to slog's; unknown is info.
// Python's logging calls its top level CRITICAL, other loggers FATAL: both
// are errors, not info.
func levelOf(s string) slog.Level {
	switch strings.ToLower(s) {
	case "trace", "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error", "critical", "fatal":
		return slog.LevelError
	}
	return slog.LevelInfo
}
