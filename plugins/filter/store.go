package filter

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

// The greylist state files in state_dir.
const (
	snapshotFile = "greylist.json" // every live record, replaced atomically
	logFile      = "greylist.log"  // one JSON record a line: changes since the snapshot
	// compactMin is the number of log lines below which the log is never
	// compacted; above it, the log is compacted once it holds more lines
	// than there are live records, so rewriting costs O(1) per change.
	compactMin = 1000
)

// record is one greylisting entry: a triplet (client network, sender,
// recipient) or, with Client set, a whole client network.
type record struct {
	Client bool   `json:"client,omitzero"`
	Net    string `json:"net"`
	From   string `json:"from,omitzero"`
	Rcpt   string `json:"rcpt,omitzero"`
	// First is a triplet's first refused attempt; zero once it passed.
	First time.Time `json:"first,omitzero"`
	// Pass is when the triplet (or a triplet of the client) last passed.
	Pass time.Time `json:"pass,omitzero"`
	// Passes counts the triplets of a client network that passed.
	Passes int `json:"passes,omitzero"`
}

// firstAttempt reports whether r is a triplet that has not passed yet.
func (r *record) firstAttempt() bool { return !r.Client && r.Pass.IsZero() }

func (r *record) key() string {
	if r.Client {
		return "c\x00" + r.Net
	}
	return "t\x00" + r.Net + "\x00" + r.From + "\x00" + r.Rcpt
}

// snapshot is the layout of snapshotFile.
type snapshot struct {
	Version int       `json:"version"`
	Records []*record `json:"records"`
}

// store keeps the greylist records in memory and durably in a directory:
// a snapshot replaced atomically (temporary file, fsync, rename, fsync of
// the directory) and an append-only log of the records changed since,
// fsynced at each change. Records are whole states, so replaying the log
// over the snapshot is idempotent, and a crash between writing a snapshot
// and truncating the log loses nothing. A torn last log line (a crash
// mid-append) is ignored. The caller serialises access.
//
// One process at a time owns a state_dir: the one holding the lock on
// lockFile. The core runs one process per stage, but a reload that
// restarts the stage starts the new process while the old one finishes
// its sessions. The new one then follows: it keeps its changes in memory
// and tries the lock at each call; once the old one has exited, it reads
// the state again, merges its own changes in (see merge) and owns the
// directory from then on. Before the lock, the new process compacted
// under the old one, whose later records were lost.
type store struct {
	dir      string
	recs     map[string]*record
	log      *os.File
	logLines int
	// live tells compaction which records to keep.
	live func(*record) bool
	// readOnly: a dry run (check-config, replay) beside the daemon's
	// own process, which owns dir. Nothing is written; changes stay in
	// memory.
	readOnly bool
	// logger reports the state directory's hand-over.
	logger *slog.Logger
	// lock is lockFile, open; locked once this process owns dir.
	lock   *os.File
	locked bool
	// changed holds the keys put while following, for the merge.
	changed map[string]bool
}

// lockFile is the file whose flock(2) owns a state_dir.
const lockFile = "greylist.lock"

// openStore loads the state in dir (created if missing), drops the records
// live rejects and compacts. Read-only, it only loads what dir holds: a
// missing dir is an empty state. A state file that cannot be read is
// started without (setAside).
func openStore(dir string, live func(*record) bool, readOnly bool, log *slog.Logger) (*store, error) {
	if !readOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("greylist: %w", err)
		}
	}
	s := &store{dir: dir, recs: map[string]*record{}, live: live, readOnly: readOnly, logger: log}
	if !readOnly {
		var err error
		if s.lock, err = os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return nil, fmt.Errorf("greylist: %w", err)
		}
		if s.locked, err = tryLock(s.lock); err != nil {
			_ = s.lock.Close()
			return nil, err
		}
		if !s.locked {
			s.changed = map[string]bool{}
			log.Info("greylist: state directory held by another process (this stage's previous one, finishing its sessions): changes are kept in memory until it exits", "state_dir", dir)
		}
	}
	s.load()
	if err := s.compact(); err != nil {
		_ = s.release()
		return nil, err
	}
	return s, nil
}

// tryLock takes f's exclusive flock without waiting; false when another
// open file holds it.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("greylist: locking %s: %w", f.Name(), err)
	}
	return true, nil
}

// writes reports whether this process writes the state files.
func (s *store) writes() bool { return !s.readOnly && s.locked }

// follow is called before each use: a follower whose lock has come free
// reads the state its predecessor left, keeps its own changes over it and
// takes the directory over.
func (s *store) follow() error {
	if s.readOnly || s.locked || s.lock == nil { // nil: closed
		return nil
	}
	ok, err := tryLock(s.lock)
	if err != nil || !ok {
		return err
	}
	mine := s.recs
	s.recs = map[string]*record{}
	s.locked = true // the owner's load sets a bad file aside
	s.load()
	for k := range s.changed {
		if r := mine[k]; r != nil {
			s.recs[k] = merge(s.recs[k], r)
		}
	}
	s.changed = nil
	return s.compact()
}

// merge is the record a follower keeps for a key both it and its
// predecessor changed: the later pass (a whitelisting is not undone),
// with a client's passes counted by the busier of the two; else the
// earlier first attempt (the sender's retry then passes as soon as
// either process would have let it).
func merge(theirs, mine *record) *record {
	if theirs == nil {
		return mine
	}
	r := *mine
	switch {
	case theirs.Pass.After(mine.Pass):
		r = *theirs
	case !mine.Pass.IsZero():
	case !theirs.First.IsZero() && theirs.First.Before(mine.First):
		r = *theirs
	}
	r.Passes = max(theirs.Passes, mine.Passes)
	return &r
}

// load reads the snapshot, then the log's changes since, into s.recs.
// A file that cannot be read is set aside (setAside), never an error.
func (s *store) load() {
	s.loadSnapshot()
	s.replayLog()
}

func (s *store) loadSnapshot() {
	b, err := os.ReadFile(filepath.Join(s.dir, snapshotFile))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var snap snapshot
	if err == nil {
		err = json.Unmarshal(b, &snap)
	}
	if err == nil && snap.Version != 1 {
		err = fmt.Errorf("unknown version %d", snap.Version)
	}
	if err != nil {
		s.setAside(snapshotFile, err)
		return
	}
	for _, r := range snap.Records {
		if r != nil {
			s.recs[r.key()] = r
		}
	}
}

// replayLog reads the log's records over the snapshot's, keeping those
// read before an error that stops it.
func (s *store) replayLog() {
	f, err := os.Open(filepath.Join(s.dir, logFile))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		s.setAside(logFile, err)
		return
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return // a last line without its newline is a torn write
		}
		if err != nil {
			s.setAside(logFile, err)
			return
		}
		r := new(record)
		if json.Unmarshal(bytes.TrimSpace(line), r) != nil || r.Net == "" {
			continue // damaged line: compaction drops it
		}
		s.recs[r.key()] = r
	}
}

// setAside reports state file name that cannot be read, err why (a
// read error, not JSON, a later version), and the owner renames it
// NAME.bad for a look. The records only spare senders a second
// greylisting: a file damaged by a disk error or written by something
// else (a crash cannot leave one: the snapshot is replaced atomically, a
// torn log line is skipped) must not stop the stage, and with it the
// daemon's start or a reload. A follower or a dry run only warns; a
// follower sets it aside when it takes the directory over and reads it
// again. The owner's next compaction writes a new file.
func (s *store) setAside(name string, err error) {
	path := filepath.Join(s.dir, name)
	const msg = "greylist: a state file cannot be read; going on without its records"
	if !s.writes() {
		s.logger.Warn(msg, "file", path, "err", err)
		return
	}
	statefile.SetAside(s.logger, msg, path, err)
}

// get returns the record with r's key, or nil.
func (s *store) get(key string) *record { return s.recs[key] }

// drop removes the records dead reports from memory. The log keeps
// them until the next compaction, which would drop them anyway.
func (s *store) drop(dead func(*record) bool) {
	for k, r := range s.recs {
		if dead(r) {
			delete(s.recs, k)
		}
	}
}

// put records r durably.
func (s *store) put(r *record) error {
	s.recs[r.key()] = r
	if s.changed != nil {
		s.changed[r.key()] = true
	}
	if !s.writes() {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.log.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("greylist: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("greylist: %w", err)
	}
	s.logLines++
	if s.logLines > compactMin && s.logLines > len(s.recs) {
		return s.compact()
	}
	return nil
}

// compact drops dead records, writes a snapshot of the rest and empties
// the log.
func (s *store) compact() error {
	snap := snapshot{Version: 1, Records: []*record{}}
	for k, r := range s.recs {
		if !s.live(r) {
			delete(s.recs, k)
			continue
		}
		snap.Records = append(snap.Records, r)
	}
	if !s.writes() {
		return nil
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.dir, snapshotFile), b, 0o600); err != nil {
		return fmt.Errorf("greylist: %w", err)
	}
	if s.log != nil {
		_ = s.log.Close()
	}
	// Truncating after the snapshot is durable: a crash in between leaves
	// a log whose records the snapshot already holds.
	s.log, err = os.OpenFile(filepath.Join(s.dir, logFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("greylist: %w", err)
	}
	s.logLines = 0
	return nil
}

// close releases the log file and the lock. A follower whose
// predecessor has gone takes over first, so that its changes are written;
// one that still cannot says what it drops.
func (s *store) close() error {
	// changed is set while following and cleared by the take-over.
	if err := s.follow(); err != nil || s.changed != nil {
		s.logger.Warn("greylist: state directory still held by another process: the changes kept in memory are dropped", "state_dir", s.dir, "changes", len(s.changed))
	}
	return s.release()
}

// release closes the log file and the lock file, which frees the lock.
func (s *store) release() error {
	var err error
	if s.log != nil {
		err = s.log.Close()
		s.log = nil
	}
	if s.lock != nil {
		_ = s.lock.Close() // releases the flock
		s.lock, s.locked, s.changed = nil, false, nil
	}
	return err
}
