package queue

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// syncedOffsetFS is the file system under stepPreallocFS: the one it
// wraps, except that the WALs it creates carry in each chunk header the
// offset truly synced before the chunk was written. Pebble v2.1.7 writes
// there a count that leaves out the bytes of every 32 KiB block filled
// between two passes of its flush loop (record.LogWriter.flushLoop adds
// only the current block's bytes): 70% of the offset with 20 KB messages,
// 30% with 100 KB ones. Its replay confirms a bad chunk as damage only when
// a later chunk's synced offset passes it (record.readAheadForCorruption),
// so damage in the latter part of the live WAL was still read as the torn
// tail of a crash and the mail after it dropped unsaid. The offset written
// here is never more than was synced (fsync returned for it), so a crash's
// torn tail, however much of its unsynced data reached the disk, is still
// not taken for damage.
type syncedOffsetFS struct{ vfs.FS }

// Pebble's WAL chunk layout (record/record.go): 32 KiB blocks; a header
// of checksum (4 bytes), length (2), encoding (1), log number (4) and,
// in the sync-offset encodings 9 to 12, the synced offset (8).
const (
	walBlockSize      = 32 << 10
	walSyncHeaderSize = 19
	walSyncFirstEnc   = 9
	walSyncLastEnc    = 12
)

// walCRC is Pebble's chunk checksum: CRC-32C, masked as LevelDB's.
var walCRC = crc32.MakeTable(crc32.Castagnoli)

func walChecksum(b []byte) uint32 {
	c := crc32.Checksum(b, walCRC)
	return (c>>15 | c<<17) + 0xa282ead8
}

func (fs syncedOffsetFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return withSyncedOffsets(name)(fs.FS.Create(name, category))
}

// ReuseForWrite is how Pebble recycles an old WAL file as a new one: it
// is written from its start, over the old log's chunks (whose log number
// Pebble's reader tells apart).
func (fs syncedOffsetFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return withSyncedOffsets(newname)(fs.FS.ReuseForWrite(oldname, newname, category))
}

// Unwrap returns the file system underneath.
func (fs syncedOffsetFS) Unwrap() vfs.FS { return fs.FS }

// withSyncedOffsets wraps a WAL (NNNNNN.log) being written from its
// start; the others pass as they are.
func withSyncedOffsets(name string) func(vfs.File, error) (vfs.File, error) {
	return func(f vfs.File, err error) (vfs.File, error) {
		base := filepath.Base(name)
		if err != nil || !strings.HasSuffix(base, ".log") {
			return f, err
		}
		num, perr := strconv.ParseUint(strings.TrimSuffix(base, ".log"), 10, 64)
		if perr != nil {
			return f, nil
		}
		// Pebble keeps the log number's low 32 bits in each chunk.
		return &syncedOffsetFile{File: f, logNum: uint32(num)}, nil
	}
}

// syncedOffsetFile raises each sync-offset chunk's synced offset, as it
// passes to the file, to the bytes synced so far. Pebble writes a WAL
// from one goroutine, whole chunks at a time (a pending block from where
// it was flushed to its end, then the current block's new chunks); a
// chunk this cannot read whole and check (a checksum that fails, another
// log number, a chunk split between writes) passes unchanged, and the
// rest of its block with it.
type syncedOffsetFile struct {
	vfs.File
	logNum uint32

	// written is the bytes written, synced the bytes a Sync that
	// returned covered; Sync may run beside a Write.
	written, synced atomic.Int64
	// skip is what is left of a chunk or block the last Write could not
	// read whole, which this one passes unchanged.
	skip int
	// buf holds a Write's bytes once one of its chunks is changed: the
	// caller's are not written to (io.Writer).
	buf []byte
}

func (f *syncedOffsetFile) Write(p []byte) (int, error) {
	out := f.raise(p, f.written.Load(), uint64(f.synced.Load()))
	n, err := f.File.Write(out)
	f.written.Add(int64(n))
	return n, err
}

// raise returns p, or a copy of it, with the synced offset of each whole
// sync-offset chunk in it raised to synced; at is p's offset in the file.
func (f *syncedOffsetFile) raise(p []byte, at int64, synced uint64) []byte {
	out, copied := p, false
	for pos := 0; pos < len(p); {
		if f.skip > 0 {
			n := min(f.skip, len(p)-pos)
			pos += n
			f.skip -= n
			continue
		}
		left := walBlockSize - int((at+int64(pos))%walBlockSize)
		if left < walSyncHeaderSize || len(p)-pos < walSyncHeaderSize {
			// A block's zeroed tail, or a header split between writes.
			f.skip = left
			continue
		}
		h := p[pos:]
		enc := h[6]
		end := walSyncHeaderSize + int(binary.LittleEndian.Uint16(h[4:6]))
		if enc < walSyncFirstEnc || enc > walSyncLastEnc || end > left ||
			binary.LittleEndian.Uint32(h[7:11]) != f.logNum {
			// Another encoding (the EOF trailer) or not a chunk of ours.
			f.skip = left
			continue
		}
		if end > len(h) {
			f.skip = end
			continue
		}
		if walChecksum(h[6:end]) != binary.LittleEndian.Uint32(h[0:4]) {
			f.skip = left
			continue
		}
		if binary.LittleEndian.Uint64(h[11:19]) < synced {
			if !copied {
				f.buf = append(f.buf[:0], p...)
				out, copied = f.buf, true
			}
			c := out[pos : pos+end]
			binary.LittleEndian.PutUint64(c[11:19], synced)
			binary.LittleEndian.PutUint32(c[0:4], walChecksum(c[6:]))
		}
		pos += end
	}
	return out
}

// durable records that the first n bytes were synced.
func (f *syncedOffsetFile) durable(n int64) {
	for {
		s := f.synced.Load()
		if s >= n || f.synced.CompareAndSwap(s, n) {
			return
		}
	}
}

func (f *syncedOffsetFile) Sync() error {
	n := f.written.Load()
	err := f.File.Sync()
	if err == nil {
		f.durable(n)
	}
	return err
}

// SyncData is what Pebble's syncing file calls for a WAL's Sync.
func (f *syncedOffsetFile) SyncData() error {
	n := f.written.Load()
	err := f.File.SyncData()
	if err == nil {
		f.durable(n)
	}
	return err
}

func (f *syncedOffsetFile) SyncTo(length int64) (bool, error) {
	n := f.written.Load()
	full, err := f.File.SyncTo(length)
	if err == nil && full {
		f.durable(n)
	}
	return full, err
}

var (
	_ vfs.FS   = syncedOffsetFS{}
	_ vfs.File = (*syncedOffsetFile)(nil)
)
