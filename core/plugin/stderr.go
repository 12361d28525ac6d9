package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
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
type stderrLog struct {
	log   *slog.Logger
	msg   string
	level slog.Level
	mu    sync.Mutex
	buf   []byte
}

func (w *stderrLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimSpace(w.buf[:i]); len(line) > 0 {
			w.line(line)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// line logs one line of the plugin's stderr.
func (w *stderrLog) line(line []byte) {
	var rec map[string]any
	if line[0] != '{' || json.Unmarshal(line, &rec) != nil {
		msg := w.msg
		if msg == "" {
			msg = "plugin stderr"
		}
		w.log.Log(context.Background(), w.level, msg, "line", string(line))
		return
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
	w.log.Log(context.Background(), levelOf(level), msg, attrs...)
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
func levelOf(s string) slog.Level {
	switch strings.ToLower(s) {
	case "trace", "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
