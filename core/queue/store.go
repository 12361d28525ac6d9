// Package queue is Sluice's durable message queue on Pebble. It is the only
// package that imports Pebble.
//
// Key layout:
//
//	m/<id>                 envelope.Message as JSON
//	b/<id>                 body (headers + content, CRLF)
//	t/<nanos BE 8B>/<id>   schedule index: active messages by next attempt
//	r/<id>                 pipeline trace (JSON), kept after delivery until pruned (7 days)
//	r/<id>/<nanos><seq>    delivery events of the trace (JSON), see AppendTraceEvent
//
// Every write that acknowledges something to a client or records a
// delivery is committed with pebble.Sync. Concurrent commits share WAL
// syncs in Pebble's commit pipeline (group commit), so no lock is held
// across a sync here; per-message locks only order read-modify-write of a
// single message.
package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluice-mta/sluice/core/envelope"
)

// memTableSize is Pebble's memtable size (its default is 4 MiB).
const memTableSize = 64 << 20

// blockCacheSize is Pebble's block cache (its default is 8 MiB). Every
// delivery reads its message's envelope and body by key; with a large
// queue, 8 MiB does not even hold the tables' index blocks, so each read
// fetched and decompressed them again.
const blockCacheSize = 64 << 20

// ErrNotFound is returned for an unknown message id.
var ErrNotFound = errors.New("queue: no such message")

// Clock returns the current time; tests inject their own.
type Clock func() time.Time

// Options configure a Store.
type Options struct {
	Clock Clock // default time.Now
	// Logger receives Pebble's errors (rate-limited) and the one line of
	// a fatal storage error; default slog.Default().
	Logger *slog.Logger
	// Exit ends the process after a fatal storage error (a WAL or
	// MANIFEST write that failed, such as on a full disk): Pebble cannot
	// go on, and every acknowledged message is already synced. Default
	// os.Exit. A test's may record the call and return: the goroutine
	// that hit the error then ends (runtime.Goexit), never returning to
	// Pebble nor panicking into its caller.
	Exit func(code int)
	// MinFree is the space (bytes) the file system holding dir must have
	// free for Open to start Pebble, as queue_minfree; zero or negative:
	// no check. Pebble may have to flush its log to disk while opening,
	// and on a full disk it would retry that forever.
	MinFree int64

	fs        vfs.FS                          // tests: an in-memory file system that can simulate a crash
	freeSpace func(dir string) (int64, error) // tests: default FreeSpaceAt
}

// Store is the durable queue.
type Store struct {
	db     *pebble.DB
	dir    string
	clock  Clock
	locks  [256]sync.Mutex
	notify chan struct{}

	// gate makes calls after Close fail with ErrClosed (closed.go).
	gate      closeGate
	closeOnce sync.Once
	closeErr  error

	// hint bounds where Due starts scanning the schedule index, so it does
	// not walk the tombstones of entries already delivered (see Due).
	hint schedHint
	// metaHint does the same for the message keys, by the time in their
	// ids: Oldest and a listing's first page start there instead of
	// walking the tombstones of every message delivered since the last
	// compaction.
	metaHint schedHint

	// traceSeq orders trace events appended within one clock tick.
	traceSeq atomic.Uint64

	// plog is Pebble's logger, whose Fatalf ends the process (see
	// fatalOnPanic).
	plog *pebbleLogger

	counts counts
}

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// Open opens (creating if needed) the queue under dir.
func Open(dir string, opt Options) (*Store, error) {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Exit == nil {
		opt.Exit = os.Exit
	}
	if opt.freeSpace == nil {
		opt.freeSpace = FreeSpaceAt
	}
	if err := checkFreeSpace(dir, opt); err != nil {
		return nil, err
	}
	// A large memtable lets most messages be written, delivered and
	// deleted before their memtable is flushed: the flush then drops the
	// body with its tombstone instead of writing it into the LSM tree, so a
	// body costs its WAL write and little else. No disk space is reserved
	// ahead of the WAL's writes, though (see stepPreallocFS).
	fs := opt.fs
	if fs == nil {
		fs = vfs.Default
	}
	log := newPebbleLogger(opt, dir)
	oldWAL := walFormatBelow(dir, fs)
	db, err := openPebble(dir, log, &pebble.Options{Logger: log, MemTableSize: memTableSize, CacheSize: blockCacheSize, FS: stepPreallocFS{syncedOffsetFS{fs}},
		FormatMajorVersion: walFormat,
		EventListener:      &pebble.EventListener{BackgroundError: log.backgroundError}})
	if errors.Is(err, syscall.EAGAIN) {
		// Pebble's LOCK file is held (flock): another process has it.
		return nil, fmt.Errorf("queue: %s is in use by another running sluice (or another Pebble user): %w", dir, err)
	}
	if pebble.IsCorruptionError(err) {
		return nil, damaged(dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", dir, err)
	}
	if oldWAL {
		if err := startSyncedWAL(db); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("queue: open %s: %w", dir, err)
		}
	}
	s := &Store{db: db, dir: dir, clock: opt.Clock, notify: make(chan struct{}, 1), plog: log}
	if err := s.loadCounts(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("queue: open %s: %w", dir, err)
	}
	return s, nil
}

// Close waits for the calls in progress, then flushes and closes the
// database; any later call of a Store method returns ErrClosed. Later
// calls of Close return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.shut()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Notify returns a channel that receives a value whenever a message becomes
// due earlier than the scheduler may expect (enqueue, release, retry).
func (s *Store) Notify() <-chan struct{} { return s.notify }

func (s *Store) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// NewID returns a new time-ordered message id (20 characters).
func (s *Store) NewID() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.clock().UnixNano()))
	_, _ = rand.Read(b[8:])
	return idEncoding.EncodeToString(b[:])
}

func metaKey(id string) []byte { return append([]byte("m/"), id...) }
func bodyKey(id string) []byte { return append([]byte("b/"), id...) }

func schedKey(t time.Time, id string) []byte {
	k := make([]byte, 0, 2+8+1+len(id))
	k = append(k, "t/"...)
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	k = append(k, '/')
	return append(k, id...)
}

func (s *Store) lock(id string) *sync.Mutex { return &s.locks[s.lockIndex(id)] }

// lockIndex is the index of id's lock in s.locks.
func (s *Store) lockIndex(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(len(s.locks)))
}

// Enqueue stores a new message and its body durably (synced) and schedules
// it. m.ID must be set (see NewID); NextAttempt defaults to now.
func (s *Store) Enqueue(m *envelope.Message, body []byte) error {
	return s.EnqueueTraced(m, body, nil)
}

// EnqueueTraced is Enqueue that also stores the message's pipeline trace
// in the same synced commit.
func (s *Store) EnqueueTraced(m *envelope.Message, body, trace []byte) error {
	if m.ID == "" {
		return errors.New("queue: message without id")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if m.State == "" {
		m.State = envelope.StateActive
	}
	if m.NextAttempt.IsZero() {
		m.NextAttempt = s.clock()
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b := s.db.NewBatchWithSize(len(meta) + len(body) + 128)
	defer b.Close()
	s.metaHint.insertAt(idNanos(m.ID))
	defer s.metaHint.done()
	_ = b.Set(metaKey(m.ID), meta, nil)
	_ = b.Set(bodyKey(m.ID), body, nil)
	if m.State == envelope.StateActive {
		s.hint.insert(m.NextAttempt)
		defer s.hint.done()
		_ = b.Set(schedKey(m.NextAttempt, m.ID), nil, nil)
	}
	if trace != nil {
		_ = b.Set(traceKey(m.ID), trace, nil)
	}
	if err := s.commit(b, delta(nil, m)); err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	s.wake()
	return nil
}

func traceKey(id string) []byte { return append([]byte("r/"), id...) }

// Trace returns the stored trace of a message: the pipeline trace with
// its delivery events merged in as "deliveries" (see AppendTraceEvent).
// A message queued without either is a *NoTraceError, not ErrNotFound
// itself (though errors.Is matches it).
func (s *Store) Trace(id string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	v, c, err := s.db.Get(traceKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		b, err := s.withTraceEvents(id, nil)
		if err != nil {
			return nil, s.noTrace(id, err)
		}
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return s.withTraceEvents(id, bytes.Clone(v))
}

// PutTrace stores the pipeline trace of a message that is not queued (a
// stage discarded it), so that its id, which the client was given, still
// leads to what the stages did. Unsynced: a trace is a record, not mail.
func (s *Store) PutTrace(id string, trace []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	defer s.fatalOnPanic()
	return s.db.Set(traceKey(id), trace, pebble.NoSync)
}

// PruneTraces deletes the traces of messages received before t that are
// no longer queued: a message held or quarantined for longer keeps its
// trace, which says why it waits. Ids are time-ordered, so the traces to
// delete are ranges between those of the messages still queued.
func (s *Store) PruneTraces(t time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	end := traceKey(idEncoding.EncodeToString(b[:])[:13]) // 13 chars = the 64 time bits
	defer s.fatalOnPanic()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte("r/"), UpperBound: end})
	if err != nil {
		return err
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	var from []byte // the start of the range to delete, nil when none is open
	for ok := it.First(); ok; {
		id, _, _ := strings.Cut(string(it.Key()[len("r/"):]), "/")
		// The next id's keys: r/ID and r/ID/… sort before r/ID0.
		past := append(traceKey(id), '/'+1)
		_, closer, err := s.db.Get(metaKey(id))
		switch {
		case err == nil:
			closer.Close()
			if from != nil {
				if err := batch.DeleteRange(from, traceKey(id), nil); err != nil {
					return errors.Join(err, it.Close())
				}
				from = nil
			}
		case errors.Is(err, pebble.ErrNotFound):
			if from == nil {
				from = traceKey(id)
			}
		default:
			return errors.Join(err, it.Close())
		}
		ok = it.SeekGE(past)
	}
	if err := it.Close(); err != nil {
		return err
	}
	if from != nil {
		if err := batch.DeleteRange(from, end, nil); err != nil {
			return err
		}
	}
	return batch.Commit(pebble.NoSync)
}

// Get returns a copy of the message's envelope.
func (s *Store) Get(id string) (*envelope.Message, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	v, c, err := s.db.Get(metaKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	m := &envelope.Message{}
	if err := json.Unmarshal(v, m); err != nil {
		return nil, fmt.Errorf("queue: corrupt envelope %s: %w", id, err)
	}
	return m, nil
}

// Body returns the message body.
func (s *Store) Body(id string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	v, c, err := s.db.Get(bodyKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return bytes.Clone(v), nil
}

// Modify applies fn to the stored message under its lock and commits the
// result synced, moving its schedule entry as needed. A message whose
// recipients are all done is removed with its body. fn returning an error
// aborts without writing. The returned message is the state written.
func (s *Store) Modify(id string, fn func(m *envelope.Message) error) (*envelope.Message, error) {
	return s.ModifyEnqueue(id, func(m *envelope.Message) ([]Queued, error) { return nil, fn(m) })
}

// Delete removes a message and its body.
func (s *Store) Delete(id string) error {
	_, err := s.Modify(id, func(m *envelope.Message) error {
		for i := range m.Rcpts {
			if !m.Rcpts[i].Done() {
				m.Rcpts[i].Status = envelope.RcptFailed
				m.Rcpts[i].LastReply = "deleted by administrator"
			}
		}
		return nil
	})
	return err
}

// Hold stops scheduling a message until Release. A quarantined message
// stays quarantined: it is not scheduled either, and held it would lose
// what Release makes of a quarantined one (Released), so that a stage's
// quarantine at the deliver hook set it aside again at once.
func (s *Store) Hold(id string) error {
	_, err := s.Modify(id, func(m *envelope.Message) error {
		if m.State != envelope.StateQuarantined {
			m.State = envelope.StateHeld
		}
		return nil
	})
	return err
}

// ErrNotHeld refuses to release an active message.
var ErrNotHeld = errors.New("not held; retry it to deliver it now")

// ErrNotActive refuses to retry a held or quarantined message.
var ErrNotActive = errors.New("release it first")

// Release makes a held or quarantined message active and due now. An
// active message is refused: releasing it would only start an attempt
// ahead of its schedule (that is Retry's job).
func (s *Store) Release(id string) error {
	_, err := s.Modify(id, func(m *envelope.Message) error {
		if m.State == envelope.StateActive {
			return fmt.Errorf("message %s: %w", id, ErrNotHeld)
		}
		if m.State == envelope.StateQuarantined {
			m.Released = true
		}
		m.State = envelope.StateActive
		m.NextAttempt = s.clock()
		return nil
	})
	return err
}

// Retry makes an active message due now. A held message stays held.
func (s *Store) Retry(id string) error {
	_, err := s.Modify(id, func(m *envelope.Message) error {
		if m.State != envelope.StateActive {
			return fmt.Errorf("message %s is %s; %w", id, m.State, ErrNotActive)
		}
		m.NextAttempt = s.clock()
		return nil
	})
	return err
}

// Due returns up to limit ids of active messages whose next attempt is at or
// before now, oldest first, skipping ids for which skip returns true. next
// is the earliest next attempt after now (zero when there is none).
func (s *Store) Due(now time.Time, limit int, skip func(id string) bool) (ids []string, next time.Time, err error) {
	if err := s.enter(); err != nil {
		return nil, time.Time{}, err
	}
	defer s.leave()
	upper := schedKey(now, "")
	upper[len(upper)-1] = '0' // '/'+1: includes every id at exactly now
	start := s.hint.begin()
	lower := []byte("t/")
	if start > 0 {
		lower = schedKey(time.Unix(0, start), "")
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte("t0")})
	if err != nil {
		return nil, time.Time{}, err
	}
	defer it.Close()
	first := int64(math.MaxInt64)
	defer func() { s.hint.end(first) }()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if first == math.MaxInt64 {
			first = int64(binary.BigEndian.Uint64(k[2:10]))
		}
		if bytes.Compare(k, upper) >= 0 {
			next = time.Unix(0, int64(binary.BigEndian.Uint64(k[2:10])))
			break
		}
		id := string(k[len("t/")+9:])
		if skip != nil && skip(id) {
			continue
		}
		ids = append(ids, id)
		if len(ids) >= limit {
			break
		}
	}
	return ids, next, it.Error()
}

// List returns up to limit messages (0 = all) in id order, which is
// arrival order. On a large queue use Walk, which stops where asked.
func (s *Store) List(limit int) ([]*envelope.Message, error) {
	var out []*envelope.Message
	err := s.Walk("", func(m *envelope.Message) bool {
		out = append(out, m)
		return limit == 0 || len(out) < limit
	})
	return out, err
}

// Walk calls fn with each message whose id sorts after after ("" = from
// the first), in id order, which is arrival order, until fn returns false.
// A page of a listing costs the messages it reads, not the whole queue.
func (s *Store) Walk(after string, fn func(m *envelope.Message) bool) (err error) {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	lower := []byte("m/")
	if after != "" {
		lower = append(metaKey(after), 0) // the first key after m/<after>
	}
	// Nothing live sorts below the hint's floor, so a walk starts there
	// when that is further on. A walk that starts at the first live key
	// (from the queue's start or from the hint) reports that key's time
	// back to the hint; any other keeps the hint as it was.
	start := s.metaHint.begin()
	learn := after == ""
	if floor := metaFloor(start); start > 0 && bytes.Compare(floor, lower) > 0 {
		lower, learn = floor, true
	}
	first := start
	if learn {
		first = math.MaxInt64 // nothing live from here on, unless seen
	}
	defer func() {
		if err != nil {
			first = 0 // unknown
		}
		s.metaHint.end(first)
	}()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte("m0")})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if learn && first == math.MaxInt64 {
			first = idNanos(string(it.Key()[2:]))
		}
		m := &envelope.Message{}
		if err := json.Unmarshal(it.Value(), m); err != nil {
			return fmt.Errorf("queue: corrupt envelope %s: %w", it.Key()[2:], err)
		}
		if !fn(m) {
			break
		}
	}
	return it.Error()
}

// idNanos returns the time in an id made by NewID, or 0 (unknown: scan
// from the start) for any other id.
func idNanos(id string) int64 {
	if len(id) != 20 {
		return 0
	}
	b, err := idEncoding.DecodeString(id)
	if err != nil || len(b) != 12 {
		return 0
	}
	return max(int64(binary.BigEndian.Uint64(b[:8])), 0)
}

// metaFloor is the lowest message key an id with time n or later can
// have: the id's first 13 characters hold its 64 time bits.
func metaFloor(n int64) []byte {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n))
	return metaKey(idEncoding.EncodeToString(b[:])[:13])
}

func (s *Store) scan(prefix string, fn func(k, v []byte) bool) error {
	up := []byte(prefix)
	up[len(up)-1]++
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefix), UpperBound: up})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Error()
}

// schedHint remembers the earliest next-attempt time that may still be in
// the schedule index. Delivered messages leave tombstones at the front of
// the index until compaction; starting each scan at the hint instead of the
// index's beginning keeps Due proportional to the live entries.
//
// An insert is announced before its commit and finished after it. A scan
// starts at the hint; when it ends, the hint becomes the earliest of: the
// first live key it saw, any insert announced since it began, and any
// insert still uncommitted when it began (its snapshot may have missed
// it). So no live entry is ever below the hint.
type schedHint struct {
	mu       sync.Mutex
	low      int64 // 0: unknown, scan from the start
	sinceMin int64 // earliest insert since the current scans began
	scans    int
	pending  int   // inserts announced and not yet committed
	pendMin  int64 // earliest of them (conservative until pending is 0)
}

// insert announces an entry at t; call done after the commit.
func (h *schedHint) insert(t time.Time) { h.insertAt(t.UnixNano()) }

// insertAt announces an entry at n nanoseconds; call done after the commit.
func (h *schedHint) insertAt(n int64) {
	h.mu.Lock()
	if h.low > n {
		h.low = n
	}
	if h.scans > 0 && n < h.sinceMin {
		h.sinceMin = n
	}
	if h.pending == 0 || n < h.pendMin {
		h.pendMin = n
	}
	h.pending++
	h.mu.Unlock()
}

// done finishes an insert announced with insert.
func (h *schedHint) done() {
	h.mu.Lock()
	h.pending--
	h.mu.Unlock()
}

func (h *schedHint) begin() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.scans == 0 {
		h.sinceMin = math.MaxInt64
		if h.pending > 0 {
			h.sinceMin = h.pendMin
		}
	} else if h.pending > 0 && h.pendMin < h.sinceMin {
		h.sinceMin = h.pendMin
	}
	h.scans++
	return h.low
}

// end records the first live key's time (MaxInt64 when the scan saw none).
func (h *schedHint) end(first int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scans--
	h.low = min(first, h.sinceMin)
}
