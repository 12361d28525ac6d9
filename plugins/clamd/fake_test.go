package clamd

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// fakeClamd is a server of clamd's INSTREAM protocol for the faults a
// real clamd cannot be made to show on demand (an ERROR answer, a hang,
// a connection dropped mid-stream, a size limit of a few bytes); the
// clean and infected answers come from a real clamd in tests/interop.
type fakeClamd struct {
	socket string // the stage's socket setting, "unix:PATH"
	mu     sync.Mutex
	cmds   []string
	got    [][]byte // each stream's bytes as clamd would scan them
}

// startFake serves each connection with serve after reading the
// command; serve gets the reader positioned at the first chunk.
func startFake(t *testing.T, serve func(f *fakeClamd, c net.Conn, r *bufio.Reader)) *fakeClamd {
	t.Helper()
	return startFakeAt(t, filepath.Join(t.TempDir(), "clamd.sock"), serve)
}

// startFakeAt is startFake listening at path.
func startFakeAt(t *testing.T, path string, serve func(f *fakeClamd, c net.Conn, r *bufio.Reader)) *fakeClamd {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClamd{socket: "unix:" + path}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				cmd, err := r.ReadString(0)
				if err != nil {
					return
				}
				f.mu.Lock()
				f.cmds = append(f.cmds, cmd)
				f.mu.Unlock()
				serve(f, c, r)
			}()
		}
	}()
	return f
}

// readChunks reads INSTREAM chunks up to the empty one, or until more
// than limit bytes came (limit < 0: none), and records the stream.
func (f *fakeClamd) readChunks(r io.Reader, limit int) (overLimit bool, err error) {
	var stream []byte
	defer func() {
		f.mu.Lock()
		f.got = append(f.got, stream)
		f.mu.Unlock()
	}()
	for {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return false, err
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			return false, nil
		}
		if limit >= 0 && len(stream)+int(n) > limit {
			return true, nil
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return false, err
		}
		stream = append(stream, b...)
	}
}

func (f *fakeClamd) streams() (cmds []string, got [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...), append([][]byte(nil), f.got...)
}

// answer writes a NUL-terminated answer, as to a z-prefixed command.
func answer(c net.Conn, line string) {
	_, _ = c.Write([]byte(line + "\x00"))
}
