package queue

import (
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// stepPreallocFS is the file system Pebble writes the queue through: the
// operating system's, except that file space is reserved a step ahead of
// the writes rather than as Pebble asks. Pebble reserves (fallocate) 110%
// of the memtable size for each WAL file it creates, 70 MiB with our
// 64 MiB memtable, and after each start it keeps up to eight WALs while
// its memtables ramp up from 256 KiB and are not flushed until they hold
// half the memtable size. So a queue holding a megabyte could take
// 500 MiB of disk, which counts against queue_minfree: on a small disk
// every client got 452 4.3.1, delivery held back, nothing more was
// written that would let Pebble flush and delete those WALs, and a
// restart was refused for want of free space. Space is reserved
// preallocStep at a time instead: serial synced 4 KiB enqueues measured
// 148–161 µs each with steps of 1 and 8 MiB, 166–189 µs with 128 MiB.
type stepPreallocFS struct{ vfs.FS }

// preallocStep is how far ahead of a WAL's writes its space is reserved.
const preallocStep = 1 << 20

func (fs stepPreallocFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return stepPrealloc(name)(fs.FS.Create(name, category))
}

// ReuseForWrite is how Pebble recycles an old WAL file as a new one.
func (fs stepPreallocFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return stepPrealloc(newname)(fs.FS.ReuseForWrite(oldname, newname, category))
}

func (fs stepPreallocFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return stepPrealloc(name)(fs.FS.OpenReadWrite(name, category, opts...))
}

// Unwrap returns the file system underneath.
func (fs stepPreallocFS) Unwrap() vfs.FS { return fs.FS }

// stepPrealloc wraps a WAL file (NNNNNN.log), the one file Pebble
// preallocates; the others pass as they are.
func stepPrealloc(name string) func(vfs.File, error) (vfs.File, error) {
	return func(f vfs.File, err error) (vfs.File, error) {
		if err != nil || !strings.HasSuffix(name, ".log") {
			return f, err
		}
		return &stepPreallocFile{File: f}, nil
	}
}

// stepPreallocFile reserves space preallocStep ahead of its writes and
// ignores Pebble's own Preallocate. Pebble writes a file from one
// goroutine at a time (its Sync may run beside a Write, and touches
// neither field).
type stepPreallocFile struct {
	vfs.File
	written, reserved int64
}

func (f *stepPreallocFile) Write(p []byte) (int, error) {
	if end := f.written + int64(len(p)); end > f.reserved {
		next := (end/preallocStep + 1) * preallocStep
		// Best effort, as Pebble's own: a file system without fallocate
		// still takes the writes.
		_ = f.File.Preallocate(f.reserved, next-f.reserved)
		f.reserved = next
	}
	n, err := f.File.Write(p)
	f.written += int64(n)
	return n, err
}

func (*stepPreallocFile) Preallocate(offset, length int64) error { return nil }

var (
	_ vfs.FS   = stepPreallocFS{}
	_ vfs.File = (*stepPreallocFile)(nil)
)
