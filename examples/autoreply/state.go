package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// stateFile, in the stage's StateDir, keeps who was answered when, so a
// restart does not answer them again within the interval (RFC 5230 §4.2).
const stateFile = "replied.json"

// replied is the record: responder → sender → time of the last reply.
// Senders are keyed as addrKey has them.
type replied struct {
	mu  sync.Mutex
	dir string // "" keeps the record in memory only
	at  map[string]map[string]time.Time
	// busy are the (responder, sender) pairs a reply is being sent for,
	// so a second message racing the first gets none.
	busy map[[2]string]bool
}

// loadReplied reads dir's record, dropping what is older than its
// responder's interval and responders no longer configured. A record
// that is not JSON is started afresh (its senders may get a reply too
// soon, which is better than no stage); one that cannot be read is an
// error.
func loadReplied(dir string, rs map[string]*responder, now time.Time) (*replied, error) {
	s := &replied{dir: dir, at: map[string]map[string]time.Time{}, busy: map[[2]string]bool{}}
	if dir == "" {
		return s, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var at map[string]map[string]time.Time
	if err := json.Unmarshal(b, &at); err != nil {
		sdk.Logger().Warn("autoreply: state file unreadable, starting afresh", "file", filepath.Join(dir, stateFile), "err", err)
		return s, nil
	}
	for addr, senders := range at {
		r := rs[addr]
		if r == nil {
			continue
		}
		for sender, t := range senders {
			if r.recent(t, now) {
				s.mark(addr, sender, t)
			}
		}
	}
	return s, nil
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
	if t, ok := s.at[r.address][sender]; ok && r.recent(t, now) {
		return false
	}
	s.busy[k] = true
	return true
}

// done ends a claim; sent records the reply (only one that was queued
// counts, so a failed Send is tried again on the next message) and
// writes the record, pruned of r's expired senders.
func (s *replied) done(r *responder, sender string, now time.Time, sent bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, [2]string{r.address, sender})
	if !sent {
		return nil
	}
	for snd, t := range s.at[r.address] {
		if !r.recent(t, now) {
			delete(s.at[r.address], snd)
		}
	}
	s.mark(r.address, sender, now)
	return s.save()
}

func (s *replied) mark(addr, sender string, t time.Time) {
	if s.at[addr] == nil {
		s.at[addr] = map[string]time.Time{}
	}
	s.at[addr][sender] = t
}

// save writes the record atomically: a temporary file renamed over the
// old one, so a crash leaves one or the other whole.
func (s *replied) save() error {
	if s.dir == "" {
		return nil
	}
	b, err := json.Marshal(s.at)
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
	if err := os.Rename(f.Name(), filepath.Join(s.dir, stateFile)); err != nil {
		return fmt.Errorf("autoreply: %w", err)
	}
	return nil
}
