package testlib

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// LogLines collects the JSON records a plugin logs (an sdk logger's or a
// slog JSON handler's writer); it may be written from several goroutines.
type LogLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Take returns the records logged since the last Take; a line that is no
// JSON record fails the test.
func (l *LogLines) Take(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is no JSON record: %v", line, err)
		}
		out = append(out, rec)
	}
	l.buf.Reset()
	return out
}
