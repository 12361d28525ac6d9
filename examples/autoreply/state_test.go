package main

import (
	"os"
	"path/filepath"
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
	s, err := loadReplied(dir, rs, t0)
	if err != nil {
		t.Fatal(err)
	}
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
	s, err = loadReplied(dir, rs, later)
	if err != nil {
		t.Fatal(err)
	}
	if s.claim(rs["alice@example.org"], "bob@example.net", later) {
		t.Error("alice answered bob again after a restart, within 7 days")
	}
	if _, ok := s.at["carol@example.org"]; ok {
		t.Errorf("carol's expired entry kept: %v", s.at)
	}
	delete(rs, "alice@example.org")
	if s, err = loadReplied(dir, rs, t0); err != nil || len(s.at) != 1 || s.at["alice@example.org"] != nil {
		t.Errorf("responder removed: record %v (%v)", s.at, err)
	}

	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = loadReplied(dir, rs, t0); err != nil || len(s.at) != 0 {
		t.Errorf("broken record: %v (%v)", s.at, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, stateFile+".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
