package queue

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The README's recovery of a queue whose last WAL is damaged: the log cut
// at the offset the damaged-queue error names is read as a crash's torn
// tail, and the queue opens with the messages recorded before the damage,
// those after it lost.
func TestOpenDamagedWALCutAtTheNamedOffset(t *testing.T) {
	dir := t.TempDir()
	wal, ids := walWithMessages(t, dir, 20)
	damageWAL(t, wal)
	s, err := Open(dir, Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("a queue with a damaged WAL opened")
	}
	m := regexp.MustCompile(regexp.QuoteMeta(wal) + `: ([0-9]+)\)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the error names no offset in %s: %v", wal, err)
	}
	at, _ := strconv.ParseInt(m[1], 10, 64)
	if err := os.Truncate(wal, at); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("the log cut at %d: %v", at, err)
	}
	defer s.Close()
	kept := 0
	for kept < len(ids) {
		if _, err := s.Get(ids[kept]); err != nil {
			break
		}
		kept++
	}
	if kept == 0 || kept == len(ids) {
		t.Fatalf("%d of %d messages kept: the log was not cut at the damage, a third of the way in", kept, len(ids))
	}
	for _, id := range ids[kept:] {
		if _, err := s.Get(id); err == nil {
			t.Errorf("message %s, after the first one lost, is there", id)
		}
	}
}
