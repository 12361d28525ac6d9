package queue

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// liveWAL enqueues n messages of size bytes, each its own synced commit,
// closes the store without a flush and returns the newest WAL, the one
// the next open replays as the live log (a bad record in an older one is
// always damage: it was closed cleanly).
func liveWAL(t *testing.T, dir string, n, size int) string {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), size)
	for range n {
		if err := s.Enqueue(newMsg(s, "b@example.net"), body); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	slices.Sort(logs)
	if len(logs) == 0 {
		t.Fatal("no WAL")
	}
	return logs[len(logs)-1]
}

// A WAL damaged late in it, with messages of a common size (20 KB)
// accepted in the blocks after the damage, stops the start. Pebble's own
// synced offsets fall behind by the blocks its flush loop finds already
// full, 30% of the offset here: damage past 70% of the live WAL was read
// as a crash's torn tail, and the queue opened without the 14 messages
// after it.
func TestOpenDamagedLateInWALSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	wal := liveWAL(t, dir, 147, 20000)
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	at := len(b) * 9 / 10
	if len(b) < 1<<20 || len(b)-at < 3*walBlockSize {
		t.Fatalf("the live WAL is %d bytes: too short for whole blocks after 90%% of it", len(b))
	}
	for i := at; i < at+64; i++ {
		b[i] ^= 0xa5
	}
	if err := os.WriteFile(wal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	openDamaged(t, dir, wal)
}

// walChunk builds a sync-offset chunk of log num holding payload, with
// synced as its synced offset.
func walChunk(num uint32, synced uint64, payload []byte) []byte {
	c := make([]byte, walSyncHeaderSize+len(payload))
	binary.LittleEndian.PutUint16(c[4:6], uint16(len(payload)))
	c[6] = walSyncFirstEnc // a full chunk
	binary.LittleEndian.PutUint32(c[7:11], num)
	binary.LittleEndian.PutUint64(c[11:19], synced)
	copy(c[walSyncHeaderSize:], payload)
	binary.LittleEndian.PutUint32(c[0:4], walChecksum(c[6:]))
	return c
}

// syncedOf returns the synced offset of the chunk at c, failing unless
// its checksum holds.
func syncedOf(t *testing.T, c []byte) uint64 {
	t.Helper()
	end := walSyncHeaderSize + int(binary.LittleEndian.Uint16(c[4:6]))
	if walChecksum(c[6:end]) != binary.LittleEndian.Uint32(c[0:4]) {
		t.Fatalf("chunk checksum broken")
	}
	return binary.LittleEndian.Uint64(c[11:19])
}

// Only whole chunks of the file's own log, whose checksum holds, get
// the synced offset; anything else passes as Pebble wrote it, and the
// caller's bytes are never changed.
func TestSyncedOffsetRaisedOnlyInWholeChunks(t *testing.T) {
	one, two := walChunk(7, 10, []byte("first")), walChunk(7, 10, []byte("the second chunk"))
	other := walChunk(8, 10, []byte("another log"))
	bad := walChunk(7, 10, []byte("damaged"))
	bad[len(bad)-1] ^= 1

	f := &syncedOffsetFile{logNum: 7}
	in := slices.Concat(one, two)
	out := f.raise(in, 0, 500)
	if !bytes.Equal(in, slices.Concat(one, two)) {
		t.Fatal("the caller's bytes were changed")
	}
	if syncedOf(t, out) != 500 || syncedOf(t, out[len(one):]) != 500 {
		t.Errorf("synced offsets %d, %d; want 500", syncedOf(t, out), syncedOf(t, out[len(one):]))
	}
	if got := f.raise(one, int64(len(in)), 5); !bytes.Equal(got, one) {
		t.Error("a synced offset was lowered")
	}

	for name, in := range map[string][]byte{"another log": other, "a bad checksum": bad} {
		f := &syncedOffsetFile{logNum: 7}
		in := slices.Concat(in, one)
		if got := f.raise(in, 0, 500); !bytes.Equal(got, in) {
			t.Errorf("%s: changed", name)
		}
		if f.skip != walBlockSize-len(in) {
			t.Errorf("%s: the rest of its block (%d bytes) is not passed over: skip %d", name, walBlockSize-len(in), f.skip)
		}
	}

	// A chunk split between two writes, then a whole one.
	f = &syncedOffsetFile{logNum: 7}
	if got := f.raise(two[:10], 0, 500); !bytes.Equal(got, two[:10]) {
		t.Error("a header split between writes was changed")
	}
	rest := slices.Concat(two[10:], one)
	if got := f.raise(rest, 10, 500); !bytes.Equal(got, rest) {
		t.Error("the block after a split header was changed")
	}
	f = &syncedOffsetFile{logNum: 7}
	if got := f.raise(two[:25], 0, 500); !bytes.Equal(got, two[:25]) {
		t.Error("the start of a split chunk was changed")
	}
	rest = slices.Concat(two[25:], one)
	got := f.raise(rest, 25, 500)
	if !bytes.Equal(got[:len(two)-25], two[25:]) || syncedOf(t, got[len(two)-25:]) != 500 {
		t.Error("after a split chunk: its end changed, or the next chunk kept its offset")
	}

	// A block's zeroed tail is passed over to the next block's chunk.
	f = &syncedOffsetFile{logNum: 7}
	tail := make([]byte, walSyncHeaderSize-1)
	got = f.raise(slices.Concat(tail, one), walBlockSize-int64(len(tail)), 500)
	if syncedOf(t, got[len(tail):]) != 500 {
		t.Error("the chunk after a block's zeroed tail kept its offset")
	}
}

// syncCrashFS calls crash at the start of each WAL sync, before the
// sync, with the bytes written since the last one: the moment a power cut
// finds the most unsynced data.
type syncCrashFS struct {
	vfs.FS
	crash func(unsynced int64)
}

func (fs syncCrashFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || filepath.Ext(name) != ".log" {
		return f, err
	}
	return &syncCrashFile{File: f, crash: fs.crash}, nil
}

func (fs syncCrashFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil {
		return f, err
	}
	return &syncCrashFile{File: f, crash: fs.crash}, nil
}

type syncCrashFile struct {
	vfs.File
	crash    func(unsynced int64)
	unsynced atomic.Int64
}

func (f *syncCrashFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.unsynced.Add(int64(n))
	return n, err
}

func (f *syncCrashFile) Sync() error {
	f.crash(f.unsynced.Swap(0))
	return f.File.Sync()
}

func (f *syncCrashFile) SyncData() error {
	f.crash(f.unsynced.Swap(0))
	return f.File.SyncData()
}

// A crash while enqueues of messages of every size are being synced,
// with holes where unsynced data did not reach the disk and later
// unsynced chunks that did (as a power cut can leave), never makes the
// queue look damaged: the synced offsets written into the WAL claim no
// more than was synced. Every acknowledged message is there after the
// restart.
func TestCrashWithSyncedOffsetsOpens(t *testing.T) {
	mem := vfs.NewCrashableMem()
	var fs vfs.FS = mem
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(11, 13))
	for round := range 8 {
		var mu sync.Mutex // orders acknowledgements and the crash clone
		acked := map[string][]byte{}
		var want map[string][]byte
		var clone *vfs.MemFS
		crashed := make(chan struct{})
		left := 3 + rng.IntN(20)
		cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: []int{50, 30, 70, 90}[round%4], RNG: rng}
		crash := func(unsynced int64) {
			mu.Lock()
			defer mu.Unlock()
			// Unsynced data across block boundaries: chunks in later
			// blocks that Pebble's replay reads ahead to.
			if clone != nil || unsynced < 2*walBlockSize {
				return
			}
			if left--; left > 0 {
				return
			}
			want, clone = maps.Clone(acked), mem.CrashClone(cfg)
			close(crashed)
		}
		s, err := Open("q", Options{Clock: clk.Now, fs: syncCrashFS{FS: fs, crash: crash}})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wrng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					m := newMsg(s, "b@example.net")
					body := bytes.Repeat([]byte{byte('a' + w)}, 1+wrng.IntN(64<<10))
					if err := s.Enqueue(m, body); err != nil {
						t.Errorf("round %d: enqueue: %v", round, err)
						return
					}
					mu.Lock()
					acked[m.ID] = body
					mu.Unlock()
				}
			})
		}
		select {
		case <-crashed:
		case <-time.After(time.Minute):
			t.Fatalf("round %d: no sync of two blocks' data", round)
		}
		close(stop)
		wg.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		mem, fs = clone, clone

		s, err = Open("q", Options{Clock: clk.Now, fs: fs})
		if err != nil {
			t.Fatalf("round %d (%d%% of unsynced data kept): a crash taken for damage: %v", round, cfg.UnsyncedDataPercent, err)
		}
		for id, body := range want {
			got, err := s.Body(id)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("round %d: acknowledged %s: %d bytes, %v", round, id, len(got), err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
