package queue

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluice-mta/sluice/core/envelope"
)

// damageWAL flips a run of bytes a third of the way into wal: inside one
// message's record, with whole records after it.
func damageWAL(t *testing.T, wal string) {
	t.Helper()
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	at := len(b) / 3
	for i := at; i < at+64; i++ {
		b[i] ^= 0xa5
	}
	if err := os.WriteFile(wal, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openDamaged opens dir, whose WAL damageWAL damaged, and checks that
// the start stops with the damaged-queue error, naming the damaged log
// and the offset (Pebble's detail, which its message leaves out).
func openDamaged(t *testing.T, dir, wal string) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err == nil {
		n := 0
		_ = s.Walk("", func(*envelope.Message) bool { n++; return true })
		_ = s.Close()
		t.Fatalf("a queue with a damaged WAL opened (%d messages left)", n)
	}
	for _, want := range []string{"queue: open " + dir, "holds the mail Sluice accepted", "restore " + dir + " from a backup",
		"replaying wal", filepath.Base(wal) + ": "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// walWithMessages enqueues n messages (each its own synced commit, so
// its own WAL record), closes the store without a flush and returns the
// WAL file, which the next open replays, and the messages' IDs.
func walWithMessages(t *testing.T, dir string, n int) (string, []string) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	body := bytes.Repeat([]byte("x"), 2048)
	for range n {
		m := newMsg(s, "b@example.net")
		if err := s.Enqueue(m, body); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var wal string
	var size int64
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		if st, err := os.Stat(l); err == nil && st.Size() > size {
			wal, size = l, st.Size()
		}
	}
	if size < int64(n)*2048 {
		t.Fatalf("no WAL holding the %d messages among %v", n, logs)
	}
	return wal, ids
}

// A WAL damaged in its middle (a disk error) with accepted messages
// recorded after the damage is not read as a torn tail, which would drop
// those messages unsaid: Pebble reads past the bad chunk, finds the
// later records and reports corruption, and the start stops with the
// damaged-queue error. This holds Pebble to the read-ahead its log
// reader has (record.ErrInvalidChunk): a Pebble without it would lose
// mail that had a 250.
func TestOpenDamagedWALSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	wal, _ := walWithMessages(t, dir, 20)
	damageWAL(t, wal)
	openDamaged(t, dir, wal)
}

// A queue made by an earlier Sluice, in Pebble's oldest format, is
// moved up at open and its WAL started afresh in the format with sync
// offsets, keeping what it held: damage to the WAL after that is seen
// too, not only in queues made new.
func TestOpenOldFormatQueueGetsSyncedWAL(t *testing.T) {
	dir := t.TempDir()
	quiet := &pebble.Options{Logger: quietLogger{t}, FormatMajorVersion: pebble.FormatMinSupported}
	db, err := pebble.Open(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("old-key"), []byte("old value"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wal, _ := walWithMessages(t, dir, 20)
	desc, err := pebble.Peek(dir, vfs.Default)
	if err != nil || desc.FormatMajorVersion < walFormat {
		t.Fatalf("format after the upgrade: %v %v", desc, err)
	}
	db, err = pebble.Open(dir, &pebble.Options{Logger: quietLogger{t}, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	v, closer, err := db.Get([]byte("old-key"))
	if err != nil || string(v) != "old value" {
		t.Fatalf("the old queue's record after the upgrade: %q %v", v, err)
	}
	_ = closer.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	damageWAL(t, wal)
	openDamaged(t, dir, wal)
}

// quietLogger sends Pebble's own lines to the test's log.
type quietLogger struct{ t *testing.T }

func (l quietLogger) Infof(format string, args ...any)  { l.t.Logf(format, args...) }
func (l quietLogger) Errorf(format string, args ...any) { l.t.Logf(format, args...) }
func (l quietLogger) Fatalf(format string, args ...any) { l.t.Fatalf(format, args...) }

// A WAL that ends in the middle of its last record is what kill -9 or a
// power cut leaves of a commit whose sync never returned: that message
// got no 250, and the queue opens with every message before it.
func TestOpenTornWALTailKeepsEarlierMessages(t *testing.T) {
	dir := t.TempDir()
	wal, ids := walWithMessages(t, dir, 20)
	st, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(wal, st.Size()-1024); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("a torn WAL tail stopped the start: %v", err)
	}
	defer s.Close()
	for _, id := range ids[:len(ids)-1] {
		if _, err := s.Get(id); err != nil {
			t.Errorf("message %s, before the torn record, lost: %v", id, err)
		}
	}
}
