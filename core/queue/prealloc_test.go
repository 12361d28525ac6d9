package queue

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// allocated returns the bytes the file system has reserved for the files
// in dir (st_blocks), which is what statfs's free space, and so
// queue_minfree, sees: preallocated space beyond a file's end included.
func allocated(t *testing.T, dir string) (alloc, size int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil || fi.IsDir() {
			continue
		}
		alloc += fi.Sys().(*syscall.Stat_t).Blocks * 512
		size += fi.Size()
	}
	return alloc, size
}

// TestDiskUseFollowsData writes a few MiB of messages, enough for Pebble
// to rotate its WAL several times while its memtables ramp up after a
// start, and checks that the queue's files take about what they hold.
// Pebble preallocates 110% of the memtable size (70 MiB here) for each WAL
// it creates: a queue holding a megabyte reserved hundreds of MiB, put a
// small disk under queue_minfree (452 to every client, delivery held back,
// so nothing could ever flush the WALs away) and had its restart refused.
func TestDiskUseFollowsData(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	const n = 96                                           // 6 MiB: WALs of 256 KiB, 512 KiB, 1, 2 and 4 MiB
	for i := 0; i < n; i++ {
		m := &envelope.Message{ID: s.NewID(), From: "a@example.org",
			Rcpts: []envelope.Recipient{{Addr: fmt.Sprintf("r%d@example.net", i)}}}
		if err := s.Enqueue(m, body); err != nil {
			t.Fatal(err)
		}
	}
	alloc, size := allocated(t, dir)
	t.Logf("queue files: %d bytes long, %d bytes allocated", size, alloc)
	if size < n*int64(len(body)) {
		t.Fatalf("queue files hold %d bytes, less than the %d written", size, n*len(body))
	}
	// Allowance for file system block rounding and Pebble's small files.
	if limit := size + 8<<20; alloc > limit {
		t.Errorf("queue files take %d MiB of disk for %d MiB of data (limit %d MiB): preallocated space",
			alloc>>20, size>>20, limit>>20)
	}
}
