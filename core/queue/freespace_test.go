package queue

import (
	"path/filepath"
	"testing"
)

// FreeSpace reads the queue's file system: some bytes are free where the
// test writes, and a store whose directory is gone says so.
func TestFreeSpace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	free, err := s.FreeSpace()
	if err != nil || free <= 0 {
		t.Fatalf("free %d, %v", free, err)
	}
	s2 := &Store{dir: filepath.Join(dir, "does-not-exist")}
	if _, err := s2.FreeSpace(); err == nil {
		t.Fatal("no error for a missing directory")
	}
}
