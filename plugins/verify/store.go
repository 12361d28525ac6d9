package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluice-mta/sluice/internal/atomicfile"
	"github.com/sluice-mta/sluice/internal/statefile"
)

// The state files in the stage's state directory.
const (
	snapshotFile = "verify.json" // every live result, replaced atomically
	logFile      = "verify.log"  // one JSON record a line: results since the snapshot
	lockFile     = "verify.lock" // whose flock(2) owns the directory
	// compactMin is the number of log lines below which the log is never
	// compacted; above it, once it holds more lines than there are
	// results, so that rewriting costs O(1) a result.
	compactMin = 1000
)

// record is one result as the state directory keeps it. Hop is the
// next_hop it came from: a result of another server says nothing of this
// one's, so a changed next_hop starts afresh.
type record struct {
	Addr        string    `json:"addr"`
	Hop         string    `json:"hop"`
	Deliverable bool      `json:"deliverable"`
	Updated     time.Time `json:"updated"`
	Reply       string    `json:"reply,omitzero"`
}

type snapshot struct {
	Version int      `json:"version"`
	Records []record `json:"records"`
}

// store keeps the results across restarts: a snapshot replaced
// atomically and a log of the results since, appended and not synced. A
// result lost to a crash is only asked again; a torn last line is
// skipped.
//
// One process at a time writes: the one holding lockFile's lock. A reload
// that restarts the stage starts the new process while the old one
// finishes its sessions; the new one keeps its results in memory and
// tries the lock at each result, and once it has it reads what the old
// one left (takeOver) and writes from then on. The caller serialises
// access.
type store struct {
	dir, hop string
	logger   *slog.Logger
	readOnly bool // a dry run (check-config, replay): read, write nothing
	lock     *os.File
	locked   bool
	log      *os.File
	lines    int
}

// openStore opens dir (made when missing) and returns what it holds for
// hop. Read-only, a missing dir holds nothing.
func openStore(dir, hop string, readOnly bool, logger *slog.Logger) (*store, []record, error) {
	s := &store{dir: dir, hop: hop, logger: logger, readOnly: readOnly}
	if !readOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("verify: state directory: %w", err)
		}
		var err error
		if s.lock, err = os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return nil, nil, fmt.Errorf("verify: state directory: %w", err)
		}
		if s.locked, err = tryLock(s.lock); err != nil {
			_ = s.lock.Close()
			return nil, nil, err
		}
		if !s.locked {
			logger.Info("verify: state directory held by another process (this stage's previous one, finishing its sessions): results are kept in memory until it exits", "state_dir", dir)
		}
	}
	recs, err := s.load()
	if err != nil {
		_ = s.close()
		return nil, nil, err
	}
	return s, recs, nil
}

// tryLock takes f's exclusive flock without waiting; false when another
// open file holds it.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("verify: locking %s: %w", f.Name(), err)
	}
	return true, nil
}

// writes reports whether this process writes the state files.
func (s *store) writes() bool { return !s.readOnly && s.locked }

// takeOver is called before each write by a process still following:
// once the lock is free it returns what the directory holds, ok true,
// and the process writes from then on.
func (s *store) takeOver() (recs []record, ok bool, err error) {
	if s.readOnly || s.locked || s.lock == nil {
		return nil, false, nil
	}
	if ok, err := tryLock(s.lock); err != nil || !ok {
		return nil, false, err
	}
	s.locked = true
	recs, err = s.load()
	return recs, err == nil, err
}

// load reads the snapshot, then the log, keeping hop's records.
func (s *store) load() ([]record, error) {
	var recs []record
	b, err := os.ReadFile(filepath.Join(s.dir, snapshotFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		// A read that fails (a disk error, a directory in its place)
		// costs no more than a damaged file: only results to ask again.
		s.setAside(err)
	default:
		var snap snapshot
		err := json.Unmarshal(b, &snap)
		if err == nil && snap.Version != 1 {
			err = fmt.Errorf("unknown version %d", snap.Version)
		}
		if err != nil {
			s.setAside(err)
			break
		}
		recs = snap.Records
	}
	f, err := os.Open(filepath.Join(s.dir, logFile))
	if errors.Is(err, os.ErrNotExist) {
		return s.ofHop(recs), nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return s.ofHop(recs), nil // a last line without its newline is a torn write
		}
		if err != nil {
			return nil, fmt.Errorf("verify: %s: %w", logFile, err)
		}
		var r record
		if json.Unmarshal(bytes.TrimSpace(line), &r) == nil {
			recs = append(recs, r)
		}
	}
}

// setAside reports a snapshot that cannot be read, err why, and the
// owner renames it verify.json.bad for a look. The results are a cache,
// each lost one only asked about again: a damaged file (a crash cannot
// leave one, it is replaced atomically) or one of a later version must
// not stop the stage, and with it the daemon's start. The log's results
// since are read all the same.
func (s *store) setAside(err error) {
	path := filepath.Join(s.dir, snapshotFile)
	const msg = "verify: state directory: the snapshot cannot be read; starting without its results"
	if !s.writes() {
		s.logger.Warn(msg, "file", path, "err", err)
		return
	}
	statefile.SetAside(s.logger, msg, path, err)
}

// ofHop keeps the well-formed records of s's next hop.
func (s *store) ofHop(recs []record) []record {
	out := recs[:0]
	for _, r := range recs {
		if r.Hop == s.hop && r.Addr != "" && !r.Updated.IsZero() {
			out = append(out, r)
		}
	}
	return out
}

// append logs r.
func (s *store) append(r record) error {
	if !s.writes() || s.log == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.log.Write(append(b, '\n')); err != nil {
		return err
	}
	s.lines++
	return nil
}

// due reports whether the log is long enough to compact, with n results
// live.
func (s *store) due(n int) bool { return s.writes() && s.lines > compactMin && s.lines > n }

// compact writes recs as the snapshot and empties the log.
func (s *store) compact(recs []record) error {
	if !s.writes() {
		return nil
	}
	b, err := json.Marshal(snapshot{Version: 1, Records: append([]record{}, recs...)})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.dir, snapshotFile), b, 0o600); err != nil {
		return err
	}
	if s.log != nil {
		_ = s.log.Close()
	}
	// Emptied once the snapshot is durable: a crash in between leaves a
	// log whose records the snapshot holds already.
	s.log, err = os.OpenFile(filepath.Join(s.dir, logFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	s.lines = 0
	return err
}

// close closes the log and the lock file, which frees the lock.
func (s *store) close() error {
	var err error
	if s.log != nil {
		err = s.log.Close()
		s.log = nil
	}
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock, s.locked = nil, false
	}
	return err
}
