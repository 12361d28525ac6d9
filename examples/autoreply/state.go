package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// stateFile, in the stage's StateDir, keeps who was answered when, so a
// restart does not answer them again within the interval (RFC 5230 §4.2).
const stateFile = "replied.json"

// lockFile, beside it, is flocked by whoever writes stateFile or sets it
// aside.
const lockFile = "replied.lock"

// maxSenders bounds the senders remembered per responder: a run of spam
// from a million forged senders must not grow the file, the memory and
// the cost of each write without end. Past it the oldest are forgotten
// (they may get a reply again within days), as RFC 5230 §4.2 lets an
// implementation bound its record.
var maxSenders = 10000

// maxDays is the longest interval a responder can have: a record of a
// responder this process does not know (the other process's during a
// reload) is kept no longer.
const maxDays = 365

// replied is the record: responder → sender → time of the last reply.
// Senders are keyed as addrKey has them.
type replied struct {
	mu  sync.Mutex
	dir string // "" keeps the record in memory only
	log *slog.Logger
	rs  map[string]*responder
	at  map[string]map[string]time.Time
	// busy are the (responder, sender) pairs a reply is being sent for,
	// so a second message racing the first gets none.
	busy map[[2]string]bool
	// seen is the file as last read or written: when it changes, another
	// process sharing the directory (the old one during a reload) wrote
	// it, and claim reads its replies.
	seen fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// loadReplied reads dir's record, dropping what is older than its
// responder's interval and responders no longer configured. A record
// that cannot be read or is not JSON is set aside as replied.json.bad,
// with a warning, and started afresh: its senders may get a reply too
// soon, which is better than a stage that does not start (and mail that
// waits for it).
func loadReplied(dir string, rs map[string]*responder, now time.Time, log *slog.Logger) *replied {
	s := &replied{dir: dir, log: log, rs: rs, at: map[string]map[string]time.Time{}, busy: map[[2]string]bool{}}
	if dir != "" {
		s.merge(s.readAtStart(), now)
	}
	return s
}

// readAtStart reads the record as read does, and sets one that cannot be
// read aside for a look (the next save would replace it). It holds
// save's lock, so that what it sets aside is never a record the other
// process of a reload has just written over the bad one.
func (s *replied) readAtStart() map[string]map[string]time.Time {
	if lock, err := os.OpenFile(filepath.Join(s.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		defer lock.Close() // releases the lock
		_ = lockExclusive(lock)
	}
	at, err := s.readFile()
	if err == nil {
		return at
	}
	name := filepath.Join(s.dir, stateFile)
	const msg = "autoreply: state file unreadable, starting afresh"
	bad := name + ".bad"
	if rerr := os.Rename(name, bad); rerr != nil {
		s.log.Warn(msg, "file", name, "err", err, "set_aside", rerr)
	} else {
		s.log.Warn(msg+", the file set aside", "file", name, "err", err, "set_aside", bad)
	}
	return nil
}

// read returns the record in the file, nil when there is none or it is
// unusable (logged).
func (s *replied) read() map[string]map[string]time.Time {
	at, err := s.readFile()
	if err != nil {
		s.log.Warn("autoreply: state file unreadable, starting afresh", "file", filepath.Join(s.dir, stateFile), "err", err)
	}
	return at
}

// readFile returns the record in the file, nil when there is none, or
// why it cannot be read.
func (s *replied) readFile() (map[string]map[string]time.Time, error) {
	name := filepath.Join(s.dir, stateFile)
	st, err := os.Stat(name)
	if err == nil {
		s.seen = fileStamp{st.ModTime(), st.Size()}
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var at map[string]map[string]time.Time
	if err == nil {
		err = json.Unmarshal(b, &at)
	}
	if err != nil {
		return nil, err
	}
	return at, nil
}

// merge adds the replies of a record read from the file to the ones in
// memory, the later of two times winning, and prunes.
// Keys are normalised again: a record written when addrKey kept the case
// of local parts still silences its senders.
func (s *replied) merge(at map[string]map[string]time.Time, now time.Time) {
	for addr, senders := range at {
		if addr = addrKey(addr); s.rs[addr] == nil {
			continue
		}
		for sender, t := range senders {
			sender = addrKey(sender)
			if old, ok := s.at[addr][sender]; !ok || t.After(old) {
				s.mark(addr, sender, t)
			}
		}
	}
	for addr, senders := range s.at {
		if prune(senders, s.rs[addr].days, now); len(senders) == 0 {
			delete(s.at, addr)
		}
	}
}

// prune drops the senders answered days or more before now and, past
// maxSenders, the oldest.
func prune(senders map[string]time.Time, days int, now time.Time) {
	for snd, t := range senders {
		if !now.Before(t.Add(time.Duration(days) * 24 * time.Hour)) {
			delete(senders, snd)
		}
	}
	if len(senders) <= maxSenders {
		return
	}
	byAge := make([]string, 0, len(senders))
	for snd := range senders {
		byAge = append(byAge, snd)
	}
	slices.SortFunc(byAge, func(a, b string) int { return senders[a].Compare(senders[b]) })
	for _, snd := range byAge[:len(byAge)-maxSenders] {
		delete(senders, snd)
	}
}

// recent reports whether a reply sent at t still silences r at now.
func (r *responder) recent(t, now time.Time) bool {
	return now.Before(t.Add(time.Duration(r.days) * 24 * time.Hour))
}

// claim reports whether r may answer sender now, and if so marks the pair
// busy until done is called.
func (s *replied) claim(r *responder, sender string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{r.address, sender}
	if s.busy[k] {
		return false
	}
	s.refresh(now)
	if t, ok := s.at[r.address][sender]; ok && r.recent(t, now) {
		return false
	}
	s.busy[k] = true
	return true
}

// refresh reads the file again when another process changed it.
func (s *replied) refresh(now time.Time) {
	if s.dir == "" {
		return
	}
	st, err := os.Stat(filepath.Join(s.dir, stateFile))
	if err != nil || (fileStamp{st.ModTime(), st.Size()}) == s.seen {
		return
	}
	s.merge(s.read(), now)
}

// done ends a claim; sent records the reply (only one that was queued
// counts, so a failed Send is tried again on the next message) and
// writes the record.
func (s *replied) done(r *responder, sender string, now time.Time, sent bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, [2]string{r.address, sender})
	if !sent {
		return nil
	}
	s.mark(r.address, sender, now)
	prune(s.at[r.address], r.days, now)
	return s.save(now)
}

func (s *replied) mark(addr, sender string, t time.Time) {
	if s.at[addr] == nil {
		s.at[addr] = map[string]time.Time{}
	}
	s.at[addr][sender] = t
}

// save writes the record atomically: a temporary file renamed over the
// old one, so a crash leaves one or the other whole. Two processes may
// share the directory (the old and the new one of a reload): under a
// lock, the file is read and merged first, so that neither drops the
// other's replies, and the responders only the other knows are kept.
func (s *replied) save(now time.Time) error {
	if s.dir == "" {
		return nil
	}
	lock, err := os.OpenFile(filepath.Join(s.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close() // releases the lock
	if err := lockExclusive(lock); err != nil {
		return err
	}
	disk := s.read()
	s.merge(disk, now)
	out := map[string]map[string]time.Time{}
	for addr, senders := range disk {
		if s.rs[addrKey(addr)] == nil {
			prune(senders, maxDays, now)
			if len(senders) > 0 {
				out[addr] = senders
			}
		}
	}
	for addr, senders := range s.at {
		out[addr] = senders
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, stateFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	name := filepath.Join(s.dir, stateFile)
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("autoreply: %w", err)
	}
	if st, err := os.Stat(name); err == nil {
		s.seen = fileStamp{st.ModTime(), st.Size()}
	}
	return nil
}
