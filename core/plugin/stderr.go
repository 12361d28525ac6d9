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

// stderrLog forwards a plugin's stderr to the log, a line at a time. A
// line that is a JSON log record — hclog's (go-plugin and the SDK write
// those: "@level", "@message") or slog's ("level", "msg") — is logged at
// its own level with its own message and fields, so a plugin's debug
// chatter stays at debug; any other line is logged as it is, at info.
type stderrLog struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
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
		w.log.Info("plugin stderr", "line", string(line))
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
