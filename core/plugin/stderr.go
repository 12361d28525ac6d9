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
	if w.limit != nil && !w.limit.allow(w.log, len(line)) {
		return
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

// lineLimit lets burst lines, and maxBytes bytes of them, through per
// interval, as journald's RateLimitIntervalSec= and RateLimitBurst= do
// for a service's output (10000 lines per 30s by default there too). The
// bytes are bounded too: 10,000 lines cut at maxLogLine each were 160 MB
// of log a window. What it drops it counts, and reports as the window
// ends, with a timer: a plugin that went quiet after its flood still has
// it reported, where the report waited for its next line.
type lineLimit struct {
	interval time.Duration
	burst    int
	maxBytes int
	now      func() time.Time

	mu       sync.Mutex
	start    time.Time    // the current interval's
	n        int          // lines let through in it
	bytes    int          // and their bytes
	dropped  int          // lines dropped and not yet reported
	log      *slog.Logger // where the report goes
	reporter *time.Timer  // set while dropped lines await their report
}

func newLineLimit() *lineLimit {
	return &lineLimit{interval: 30 * time.Second, burst: 10000, maxBytes: 4 << 20, now: time.Now}
}

// allow reports whether one more line of size bytes may be logged now on
// log; a line over the limit is counted for the report, which goes to
// log.
func (l *lineLimit) allow(log *slog.Logger, size int) bool {
	l.mu.Lock()
	now := l.now()
	var dropped int
	if now.Sub(l.start) >= l.interval {
		dropped = l.takeDropped()
		l.start, l.n, l.bytes = now, 0, 0
	}
	ok := l.n < l.burst && (l.maxBytes <= 0 || l.bytes+size <= l.maxBytes)
	if ok {
		l.n++
		l.bytes += size
	} else {
		l.dropped++
		l.log = log
		if l.reporter == nil {
			l.reporter = time.AfterFunc(l.start.Add(l.interval).Sub(now), l.reportDropped)
		}
	}
	l.mu.Unlock()
	l.warn(log, dropped)
	return ok
}

// reportDropped is the timer's: it reports the lines dropped in the
// window that has ended, unless a line logged since did.
func (l *lineLimit) reportDropped() {
	l.mu.Lock()
	log := l.log
	l.reporter = nil
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	l.warn(log, dropped)
}

// takeDropped returns the count to report and stops its timer; l.mu is
// held.
func (l *lineLimit) takeDropped() int {
	if l.reporter != nil {
		l.reporter.Stop()
		l.reporter = nil
	}
	n := l.dropped
	l.dropped = 0
	return n
}

func (l *lineLimit) warn(log *slog.Logger, dropped int) {
	if dropped > 0 && log != nil {
		log.Warn("plugin output was dropped: over the log limit", "lines", dropped,
			"limit", l.burst, "per", l.interval.String(), "max_bytes", l.maxBytes)
	}
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
