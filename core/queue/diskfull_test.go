package queue

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// waitLimit bounds every wait for an event; reaching it fails the test.
const waitLimit = 10 * time.Second

// logBuffer collects log lines and signals each one written.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newLogBuffer() *logBuffer { return &logBuffer{lines: make(chan string, 1024)} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.lines <- string(p):
	default:
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

// waitLine waits for a logged line containing want.
func (b *logBuffer) waitLine(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case l := <-b.lines:
			if strings.Contains(l, want) {
				return l
			}
		case <-deadline:
			t.Fatalf("no log line with %q; log:\n%s", want, b.String())
		}
	}
}

// fullDisk is an errorfs injector: once on, the operations match accepts
// fail as a full disk fails them.
type fullDisk struct {
	on    atomic.Bool
	match func(op errorfs.Op) bool
}

func (d *fullDisk) String() string { return "full disk" }

func (d *fullDisk) MaybeError(op errorfs.Op) error {
	if !d.on.Load() || op.Kind.ReadOrWrite() != errorfs.OpIsWrite || (d.match != nil && !d.match(op)) {
		return nil
	}
	return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
}

func isWAL(op errorfs.Op) bool   { return strings.HasSuffix(op.Path, ".log") }
func isTable(op errorfs.Op) bool { return strings.HasSuffix(op.Path, ".sst") }

// A WAL write that fails for lack of space is Pebble's fatal commit
// error: the store logs it once, with the cause, through the daemon's
// logger and calls Exit; the committing caller never sees a panic (its
// recover, like go-smtp's per-connection one, would leave Pebble's commit
// pipeline locked and the daemon hung) nor a return. What was acknowledged
// before is on disk; the failed message never was acknowledged.
func TestFatalStorageErrorExits(t *testing.T) {
	mem := vfs.NewCrashableMem()
	disk := &fullDisk{match: isWAL}
	logs := newLogBuffer()
	exits := make(chan int, 4)
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := Open("q", Options{Clock: clk.Now, Logger: logs.logger(slog.LevelInfo),
		Exit: func(code int) { exits <- code }, fs: errorfs.Wrap(mem, disk)})
	if err != nil {
		t.Fatal(err)
	}
	kept := newMsg(s, "b@example.net")
	if err := s.Enqueue(kept, []byte("Subject: kept\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}

	disk.on.Store(true)
	lost := newMsg(s, "c@example.net")
	recovered := make(chan any, 1)
	returned := make(chan error, 1)
	go func() {
		defer func() { recovered <- recover() }()
		returned <- s.Enqueue(lost, []byte("Subject: lost\r\n\r\nhi\r\n"))
	}()
	select {
	case code := <-exits:
		if code == 0 {
			t.Errorf("exit code %d, want non-zero", code)
		}
	case err := <-returned:
		t.Fatalf("Enqueue returned %v instead of exiting", err)
	case <-time.After(waitLimit):
		t.Fatalf("no exit after a fatal commit error; log:\n%s", logs.String())
	}
	select {
	case r := <-recovered:
		if r != nil {
			t.Fatalf("the caller recovered a panic: %v", r)
		}
	case <-time.After(waitLimit):
		t.Fatal("the committing goroutine did not end after Exit")
	}
	select {
	case err := <-returned:
		t.Fatalf("Enqueue returned %v after Exit", err)
	default:
	}
	out := logs.String()
	if n := strings.Count(out, "fatal storage error"); n != 1 {
		t.Errorf("%d fatal lines, want 1:\n%s", n, out)
	}
	line := logs.waitLine(t, "fatal storage error")
	for _, want := range []string{"level=ERROR", `msg="queue: fatal storage error, exiting"`, "data_dir=q", "fatal commit error", "no space left on device"} {
		if !strings.Contains(line, want) {
			t.Errorf("fatal line lacks %q: %s", want, line)
		}
	}

	// What a restart finds: the disk as synced when the process ended.
	s2, err := Open("q", Options{Clock: clk.Now, fs: mem.CrashClone(vfs.CrashCloneCfg{})})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Get(kept.ID); err != nil {
		t.Errorf("the acknowledged message is gone after the exit: %v", err)
	}
	if _, err := s2.Get(lost.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the message whose commit failed is there: %v", err)
	}
}

// fatalChildEnv makes this test binary commit to a store whose disk is
// full, with the default Exit (TestFatalStorageErrorExitsProcess's child).
const fatalChildEnv = "SLUICE_QUEUE_TEST_FATAL"

// fatalChild is the child's part: it must not get past Enqueue.
func fatalChild() {
	disk := &fullDisk{match: isWAL}
	s, err := Open("q", Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), fs: errorfs.Wrap(vfs.NewMem(), disk)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	disk.on.Store(true)
	err = s.Enqueue(newMsg(s, "b@example.net"), []byte("Subject: x\r\n\r\nhi\r\n"))
	fmt.Fprintln(os.Stderr, "Enqueue returned:", err)
	os.Exit(4)
}

// By default the fatal path ends the process with status 1 and one clear
// line, not a panic and its goroutine dump.
func TestFatalStorageErrorExitsProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), fatalChildEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	out := stderr.String()
	if strings.Contains(out, "panic") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, `msg="queue: fatal storage error, exiting"`) || !strings.Contains(out, "no space left on device") {
		t.Fatalf("stderr is not the one fatal line:\n%s", out)
	}
}

// Pebble's background errors reach the log instead of vanishing: a flush
// that fails for lack of space, which Pebble retries in a loop, is one
// error line with the cause, not one per retry; once space is back the
// flush completes.
func TestBackgroundErrorIsLogged(t *testing.T) {
	disk := &fullDisk{match: isTable}
	logs := newLogBuffer()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := Open("q", Options{Clock: clk.Now, Logger: logs.logger(slog.LevelInfo), fs: errorfs.Wrap(vfs.NewMem(), disk)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Enqueue(newMsg(s, "b@example.net"), []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	disk.on.Store(true)
	flushed := make(chan error, 1)
	go func() { flushed <- s.db.Flush() }()
	line := logs.waitLine(t, "no space left on device")
	for _, want := range []string{"level=ERROR", `msg="queue: storage error"`, "background error", ".sst"} {
		if !strings.Contains(line, want) {
			t.Errorf("error line lacks %q: %s", want, line)
		}
	}
	disk.on.Store(false)
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatalf("Flush: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the flush did not complete once space was back")
	}
	if n := strings.Count(logs.String(), "no space left on device"); n != 1 {
		t.Errorf("%d error lines for one repeated error, want 1:\n%s", n, logs.String())
	}
}

// Errorf logs a distinct message at most once per pebbleLogEvery (file
// numbers aside), then again with how often it was left out; Infof is
// debug chatter.
func TestPebbleLoggerRateLimit(t *testing.T) {
	logs := newLogBuffer()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := newPebbleLogger(Options{Clock: clk.Now, Logger: logs.logger(slog.LevelInfo)}, "q")
	l.Errorf("background error: open q/%06d.sst: no space left on device", 12)
	l.Errorf("background error: open q/%06d.sst: no space left on device", 13)
	l.Errorf("background error: open q/%06d.sst: no space left on device", 14)
	l.Errorf("background error: %s", "input/output error")
	l.Infof("flushed %d memtables", 1)
	clk.Add(pebbleLogEvery - time.Second)
	l.Errorf("background error: open q/%06d.sst: no space left on device", 15)
	clk.Add(time.Second)
	l.Errorf("background error: open q/%06d.sst: no space left on device", 16)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	want := []string{
		"000012.sst: no space left on device",
		"input/output error",
		"000016.sst: no space left on device\" repeated=3",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), logs.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) || !strings.Contains(lines[i], "level=ERROR") {
			t.Errorf("line %d = %s, want ERROR with %q", i, lines[i], w)
		}
	}

	debug := newLogBuffer()
	newPebbleLogger(Options{Clock: clk.Now, Logger: debug.logger(slog.LevelDebug)}, "q").Infof("flushed %d memtables", 1)
	if !strings.Contains(debug.String(), "level=DEBUG") || !strings.Contains(debug.String(), "flushed 1 memtables") {
		t.Errorf("Infof at debug: %q", debug.String())
	}
}

// Pebble flushes the log it replays before Open returns, and retries a
// flush that fails forever: on a full disk Open gave up instead of hanging,
// saying why, and the queue is intact for when space is back.
func TestOpenOnFullDiskFails(t *testing.T) {
	mem := vfs.NewCrashableMem()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := Open("q", Options{Clock: clk.Now, fs: mem})
	if err != nil {
		t.Fatal(err)
	}
	m := newMsg(s, "b@example.net")
	if err := s.Enqueue(m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{match: isTable}
	disk.on.Store(true)
	logs := newLogBuffer()
	opened := make(chan error, 1)
	go func() {
		s, err := Open("q", Options{Clock: clk.Now, Logger: logs.logger(slog.LevelInfo), fs: errorfs.Wrap(mem, disk)})
		if err == nil {
			_ = s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "queue: open q:") {
			t.Fatalf("Open on a full disk: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Open on a full disk hangs")
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("the background error is not logged:\n%s", logs.String())
	}

	s2, err := Open("q", Options{Clock: clk.Now, fs: mem.CrashClone(vfs.CrashCloneCfg{})})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Get(m.ID); err != nil {
		t.Errorf("the queued message after the failed open: %v", err)
	}
}

// Open refuses a data_dir whose file system has less than MinFree free,
// before Pebble touches it, with one line naming both numbers; with
// enough space, no check, or a file system that cannot be asked, it opens.
func TestOpenChecksFreeSpace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	free := func(n int64, err error) func(string) (int64, error) {
		return func(d string) (int64, error) {
			if d != dir {
				t.Errorf("free space asked of %q, want %q", d, dir)
			}
			return n, err
		}
	}
	_, err := Open(dir, Options{MinFree: 1000, freeSpace: free(999, nil)})
	var se *SpaceError
	if !errors.As(err, &se) {
		t.Fatalf("Open: %v, want a SpaceError", err)
	}
	want := "data_dir " + dir + ": only 999 bytes free on its file system, need at least 1000 (queue_minfree)"
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Pebble ran on a refused data_dir: %v", err)
	}

	logs := newLogBuffer()
	for _, opt := range []Options{
		{MinFree: 1000, freeSpace: free(1000, nil)},
		{MinFree: 0, freeSpace: free(0, nil)},
		{MinFree: -1, freeSpace: free(0, nil)},
		{MinFree: 1000, freeSpace: free(0, syscall.EIO), Logger: logs.logger(slog.LevelInfo)},
	} {
		s, err := Open(dir, opt)
		if err != nil {
			t.Fatalf("Open with MinFree %d: %v", opt.MinFree, err)
		}
		_ = s.Close()
	}
	if !strings.Contains(logs.String(), "free space of data_dir unknown") {
		t.Errorf("no warning when free space is unknown:\n%s", logs.String())
	}
}
