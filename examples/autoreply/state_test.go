package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The record survives a restart: a new process reads it and keeps a
// sender answered within days quiet, and drops what has expired and
// responders no longer configured; a record that is not JSON starts
// afresh.
func TestStateReload(t *testing.T) {
	dir := t.TempDir()
	rs := map[string]*responder{
		"alice@example.org": {address: "alice@example.org", days: 7},
		"carol@example.org": {address: "carol@example.org", days: 1},
	}
	s := loadReplied(dir, rs, t0, quiet)
	for _, p := range [][2]string{{"alice@example.org", "bob@example.net"}, {"carol@example.org", "bob@example.net"}} {
		r := rs[p[0]]
		if !s.claim(r, p[1], t0) {
			t.Fatalf("claim %v on an empty record refused", p)
		}
		if s.claim(r, p[1], t0) {
			t.Fatalf("claim %v while busy granted", p)
		}
		if err := s.done(r, p[1], t0, true); err != nil {
			t.Fatal(err)
		}
	}
	later := t0.Add(2 * 24 * time.Hour)
	s = loadReplied(dir, rs, later, quiet)
	if s.claim(rs["alice@example.org"], "bob@example.net", later) {
		t.Error("alice answered bob again after a restart, within 7 days")
	}
	if _, ok := s.at["carol@example.org"]; ok {
		t.Errorf("carol's expired entry kept: %v", s.at)
	}
	delete(rs, "alice@example.org")
	if s = loadReplied(dir, rs, t0, quiet); len(s.at) != 1 || s.at["alice@example.org"] != nil {
		t.Errorf("responder removed: record %v", s.at)
	}

	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s = loadReplied(dir, rs, t0, quiet); len(s.at) != 0 {
		t.Errorf("broken record: %v", s.at)
	}
	left, _ := filepath.Glob(filepath.Join(dir, stateFile+".*"))
	if left = slices.DeleteFunc(left, func(n string) bool { return n == filepath.Join(dir, stateFile+".bad") }); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// quiet is the logger of the tests that expect no warning to look at.
var quiet = slog.New(slog.DiscardHandler)

// A record that cannot be read at start (here a directory in its place)
// does not stop the stage, and one that cannot be written (disk full)
// still keeps the sender quiet in memory.
func TestStateUnusable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, stateFile), 0o700); err != nil {
		t.Fatal(err)
	}
	r := &responder{address: "alice@example.org", days: 7}
	s := loadReplied(dir, map[string]*responder{r.address: r}, t0, quiet)
	// The start set the directory aside: another one makes the write fail.
	if err := os.Mkdir(filepath.Join(dir, stateFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if !s.claim(r, "bob@example.net", t0) {
		t.Fatal("claim refused")
	}
	if err := s.done(r, "bob@example.net", t0, true); err == nil {
		t.Error("saving over a directory succeeded")
	}
	if s.claim(r, "bob@example.net", t0.Add(time.Hour)) {
		t.Error("bob answered twice: a failed write forgot the reply")
	}
}

// A run of distinct senders keeps at most maxSenders of them, the newest,
// in memory and in the file.
func TestStateBounded(t *testing.T) {
	defer func(n int) { maxSenders = n }(maxSenders)
	maxSenders = 50
	dir := t.TempDir()
	r := &responder{address: "alice@example.org", days: 7}
	rs := map[string]*responder{r.address: r}
	s := loadReplied(dir, rs, t0, quiet)
	now := t0
	for i := range 3 * maxSenders {
		now = now.Add(time.Second)
		snd := fmt.Sprintf("spam%d@example.net", i)
		if !s.claim(r, snd, now) {
			t.Fatalf("claim %s refused", snd)
		}
		if err := s.done(r, snd, now, true); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprintf("spam%d@example.net", 3*maxSenders-1)
	if n := len(s.at[r.address]); n != maxSenders || s.at[r.address][last].IsZero() {
		t.Errorf("in memory: %d senders (newest kept: %v), want %d", n, !s.at[r.address][last].IsZero(), maxSenders)
	}
	if n := len(loadReplied(dir, rs, now, quiet).at[r.address]); n != maxSenders {
		t.Errorf("in the file: %d senders, want %d", n, maxSenders)
	}
}

// Two processes on one state directory (the old and the new one of a
// reload, each with its responders): each sees the other's replies, and
// neither's write drops the other's.
func TestStateShared(t *testing.T) {
	dir := t.TempDir()
	alice := &responder{address: "alice@example.org", days: 7}
	carol := &responder{address: "carol@example.org", days: 7}
	oldRS := map[string]*responder{alice.address: alice}
	newRS := map[string]*responder{alice.address: alice, carol.address: carol}
	old, cur := loadReplied(dir, oldRS, t0, quiet), loadReplied(dir, newRS, t0, quiet)
	reply := func(s *replied, r *responder, snd string) {
		t.Helper()
		if !s.claim(r, snd, t0) {
			t.Fatalf("claim %s → %s refused", r.address, snd)
		}
		if err := s.done(r, snd, t0, true); err != nil {
			t.Fatal(err)
		}
	}
	reply(old, alice, "bob@example.net")
	if cur.claim(alice, "bob@example.net", t0) {
		t.Error("the new process answered bob, whom the old one answered")
	}
	reply(cur, carol, "dan@example.net")
	reply(old, alice, "eve@example.net")
	got := loadReplied(dir, newRS, t0, quiet).at
	for _, p := range [][2]string{{"alice@example.org", "bob@example.net"}, {"alice@example.org", "eve@example.net"}, {"carol@example.org", "dan@example.net"}} {
		if got[p[0]][p[1]].IsZero() {
			t.Errorf("%s → %s lost: %v", p[0], p[1], got)
		}
	}
}

// A record written when local parts kept their case (Alice@, Bob@) still
// keeps its senders quiet, and is written back once, under the new key.
func TestStateOldKeys(t *testing.T) {
	dir := t.TempDir()
	old := fmt.Sprintf(`{"Alice@example.org": {"Bob@example.net": %q}}`, t0.Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &responder{address: "alice@example.org", days: 7}
	rs := map[string]*responder{r.address: r}
	s := loadReplied(dir, rs, t0.Add(time.Hour), quiet)
	if s.claim(r, "bob@example.net", t0.Add(time.Hour)) {
		t.Fatal("bob answered again: the old record's keys were not read")
	}
	if !s.claim(r, "carol@example.net", t0.Add(time.Hour)) {
		t.Fatal("carol refused")
	}
	if err := s.done(r, "carol@example.net", t0.Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Alice@") || !strings.Contains(string(b), `"bob@example.net"`) {
		t.Errorf("record written back: %s", b)
	}
}
