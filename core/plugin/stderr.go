package plugin

import (
	"bytes"
	"log/slog"
	"sync"
)

// stderrLog forwards a plugin's stderr to the log, a line at a time.
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
			w.log.Info("plugin stderr", "line", string(line))
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
