package queue

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowHandler is a slog handler whose first record is held until release
// is closed, as a log write to a slow pipe or journal would be.
type slowHandler struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	written atomic.Int32
}

func (h *slowHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *slowHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *slowHandler) WithGroup(string) slog.Handler            { return h }
func (h *slowHandler) Handle(_ context.Context, r slog.Record) error {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
	h.written.Add(1)
	return nil
}

// TestFatalLineBeforeAnyExit has two goroutines hit a fatal storage error
// at once, as Pebble's concurrent commits do when the WAL write fails on
// a full disk. The process must not exit before the one line saying why
// is written: the second caller ended it while the first was still
// logging, and the daemon died with status 1 and nothing in its log.
func TestFatalLineBeforeAnyExit(t *testing.T) {
	h := &slowHandler{entered: make(chan struct{}), release: make(chan struct{})}
	exits := make(chan int32, 2) // the lines written when each exit came
	l := newPebbleLogger(Options{Logger: slog.New(h), Clock: time.Now,
		Exit: func(int) { exits <- h.written.Load() }}, t.TempDir())
	fatal := func() {
		l.Fatalf("pebble: fatal commit error: %v", "write 000042.log: no space left on device")
	}
	go fatal()
	<-h.entered // the first caller is writing its line
	go fatal()
	select {
	case n := <-exits:
		// Only the second caller can have got here: the first is held
		// in the log handler.
		t.Fatalf("exit called with %d lines written, while the fatal error was still being logged", n)
	case <-time.After(200 * time.Millisecond): // the second caller must be waiting, not exiting
	}
	close(h.release)
	for i := 0; i < 2; i++ {
		if n := <-exits; n != 1 {
			t.Errorf("exit %d came with %d lines written, want the one fatal line", i+1, n)
		}
	}
}
