package queue

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// After a WAL write failed for lack of space, a later write, synced or
// not, finds Pebble's log writer failed, and Pebble panics (db.go,
// commitWrite). Such a write must take the fatal path too (Exit, and the
// goroutine ends) rather than panic: a delivery's unsynced trace event
// after the failed commit ended the daemon with a Go panic and status 2.
func TestWriteAfterFailedWALIsFatalNotPanic(t *testing.T) {
	disk := &fullDisk{match: isWAL}
	logs := newLogBuffer()
	exits := make(chan int, 8)
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := Open("q", Options{Clock: clk.Now, Logger: logs.logger(slog.LevelInfo),
		Exit: func(code int) { exits <- code }, fs: errorfs.Wrap(vfs.NewMem(), disk)})
	if err != nil {
		t.Fatal(err)
	}
	m := newMsg(s, "b@example.net")
	if err := s.Enqueue(m, []byte("Subject: kept\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	disk.on.Store(true)
	// run calls write in a goroutine and reports what ended it: nil when
	// the store exited (the goroutine ended by Goexit), else the panic.
	run := func(name string, write func()) {
		t.Helper()
		ended := make(chan any, 1)
		go func() {
			panicked := true
			defer func() {
				if panicked {
					ended <- recover()
					return
				}
				ended <- "returned"
			}()
			write()
			panicked = false
		}()
		select {
		case r := <-ended:
			if r != nil {
				t.Fatalf("%s: %v, want the fatal exit", name, r)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s: did not end", name)
		}
		select {
		case code := <-exits:
			if code != 1 {
				t.Errorf("%s: exit %d, want 1", name, code)
			}
		default:
			t.Errorf("%s: ended without Exit", name)
		}
	}
	run("the commit that hits the full disk", func() {
		_ = s.Enqueue(newMsg(s, "c@example.net"), []byte("Subject: lost\r\n\r\nhi\r\n"))
	})
	// Pebble's log writer notices its failure when a write fills a 32 KiB
	// block, and the write after that panics: a few large unsynced trace
	// events get there whenever the flusher records the failure.
	big := []byte(`{"n":"` + strings.Repeat("x", 100<<10) + `"}`)
	run("unsynced trace events after it", func() {
		for range 50 {
			_ = s.AppendTraceEvent(m.ID, big)
		}
	})
	// (Pebble's commit pipeline stays locked after its panic: in the
	// daemon, Exit has ended the process by then.)
	if n := strings.Count(logs.String(), "fatal storage error"); n != 1 {
		t.Errorf("%d fatal lines, want 1:\n%s", n, logs.String())
	}
}
