package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleLogEvery is how often one of Pebble's errors is logged again while
// Pebble keeps reporting it: a flush that fails is retried at once, in a
// loop, for as long as the disk stays full.
const pebbleLogEvery = time.Minute

// pebbleLogKeys bounds the distinct messages remembered for rate limiting.
const pebbleLogKeys = 256

// pebbleLogger is Pebble's Logger (and background-error listener) for one
// Store. Informational messages go to debug; errors to the daemon's log at
// error level, at most once per distinct message per pebbleLogEvery; a
// fatal error is logged once and ends the process (Options.Exit), since
// Pebble's contract is that Fatalf does not return and its DB cannot be
// used after one: a panic instead would be caught by whatever recovers in
// the calling goroutine (go-smtp's per-connection recover) and leave the
// commit pipeline locked and the daemon hung.
type pebbleLogger struct {
	log   *slog.Logger
	exit  func(code int)
	clock Clock
	dir   string

	// fatalOnce logs the first fatal error. A sync.Once, not a flag:
	// Pebble's concurrent commits all report a failed WAL write, and a
	// caller that found the flag set exited while the first was still
	// writing the line, so the process ended with nothing in its log.
	// Do returns to every caller only once the line is written.
	fatalOnce sync.Once

	mu   sync.Mutex
	seen map[string]*seenError

	// During Open: the first out-of-space error of a background job
	// (see watchOpen), and whether Open has given up on Pebble.
	openErr   chan error
	opening   atomic.Bool
	abandoned atomic.Bool
}

// seenError is the rate-limiting state of one distinct message.
type seenError struct {
	logged     time.Time
	suppressed int
}

func newPebbleLogger(opt Options, dir string) *pebbleLogger {
	return &pebbleLogger{log: opt.Logger, exit: opt.Exit, clock: opt.Clock, dir: dir,
		seen: map[string]*seenError{}, openErr: make(chan error, 1)}
}

// Infof is Pebble's informational chatter: debug level.
func (l *pebbleLogger) Infof(format string, args ...interface{}) {
	l.log.Debug("queue: pebble: "+fmt.Sprintf(format, args...), "data_dir", l.dir)
}

// Errorf is an error Pebble recovers from (or retries): logged, rate-limited.
func (l *pebbleLogger) Errorf(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	repeated, ok := l.allow(msg)
	if !ok {
		return
	}
	attrs := []any{"data_dir", l.dir, "err", msg}
	if repeated > 0 {
		attrs = append(attrs, "repeated", repeated)
	}
	l.log.Error("queue: storage error", attrs...)
}

// Fatalf logs the error once and exits, in every caller only once the
// line is written; it never returns.
func (l *pebbleLogger) Fatalf(format string, args ...interface{}) {
	l.fatalOnce.Do(func() {
		l.log.Error("queue: fatal storage error, exiting", "data_dir", l.dir, "err", fmt.Sprintf(format, args...))
	})
	l.exit(1)
	// Options.Exit must not return; if a test's does, end this goroutine
	// (running its deferred calls) rather than hand Pebble back control
	// or panic into the caller.
	runtime.Goexit()
}

// fatalOnPanic, deferred by every write, makes a panic of Pebble's during
// the write the fatal storage error it is. Once a write to the WAL has
// failed (a full disk), the commit that saw it calls Fatalf, but a commit
// that comes after, synced or not, finds the log writer failed and Pebble
// panics (db.go, commitWrite): the process ended with a Go panic and
// status 2 instead of the one fatal line and status 1, whichever goroutine
// got there first.
func (s *Store) fatalOnPanic() {
	if r := recover(); r != nil {
		s.plog.Fatalf("%v", r)
	}
}

// backgroundError is Pebble's EventListener.BackgroundError: a flush or
// compaction failed and will be retried.
func (l *pebbleLogger) backgroundError(err error) {
	if l.abandoned.Load() {
		// Open gave up on this DB: park Pebble's retry loop (it holds
		// the DB's mutex here), which would otherwise spin a core until
		// the process exits.
		select {}
	}
	l.Errorf("background error: %v", err) // before Open may return
	if l.opening.Load() && isNoSpace(err) {
		select {
		case l.openErr <- err:
		default:
		}
	}
}

// allow reports whether msg may be logged now and how many times it was
// suppressed since it last was. Messages that differ only in their digits
// (the file numbers of successive retries) count as one.
func (l *pebbleLogger) allow(msg string) (suppressed int, ok bool) {
	key := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, msg)
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.seen[key]; e != nil {
		if now.Sub(e.logged) < pebbleLogEvery {
			e.suppressed++
			return 0, false
		}
		suppressed = e.suppressed
		e.logged, e.suppressed = now, 0
		return suppressed, true
	}
	if len(l.seen) >= pebbleLogKeys {
		for k, e := range l.seen {
			if now.Sub(e.logged) >= pebbleLogEvery {
				delete(l.seen, k)
			}
		}
		if len(l.seen) >= pebbleLogKeys {
			clear(l.seen)
		}
	}
	l.seen[key] = &seenError{logged: now}
	return 0, true
}

// isNoSpace reports whether err is the file system being full (or the
// user's quota spent).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// openPebble is pebble.Open, except that it gives up when a background job
// fails for lack of space while Open runs. Open flushes the log it
// replayed before it returns, and Pebble retries a failed flush at once,
// forever: on a full disk Open would never return, leaving a process that
// neither serves nor says why. Giving up leaves Pebble's goroutines parked
// (see backgroundError) until the caller, which cannot start, exits; the
// log on disk is untouched.
func openPebble(dir string, l *pebbleLogger, o *pebble.Options) (*pebble.DB, error) {
	type result struct {
		db  *pebble.DB
		err error
	}
	done := make(chan result, 1)
	l.opening.Store(true)
	go func() {
		db, err := pebble.Open(dir, o)
		done <- result{db, err}
	}()
	select {
	case r := <-done:
		l.opening.Store(false)
		return r.db, r.err
	case err := <-l.openErr:
		select {
		case r := <-done: // it returned all the same
			l.opening.Store(false)
			return r.db, r.err
		default:
		}
		l.abandoned.Store(true)
		return nil, fmt.Errorf("pebble cannot write while opening, the file system is full: %w", err)
	}
}
