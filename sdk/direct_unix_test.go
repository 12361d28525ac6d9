//go:build unix

package sdk

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// Frames of every size arrive whole through the read buffer: small ones
// several to a read, ones that straddle the buffer's end, ones larger
// than the buffer, and body chunks larger than a write the socket takes
// at once.
func TestDirectStreamFrames(t *testing.T) {
	a, b := directSocketPair(t)
	tx, rx := newDirectStream(a), newDirectStream(b)
	defer tx.Close()
	defer rx.Close()
	sizes := []int{0, 1, 100, 5000, directBufSize - 10, directBufSize, directBufSize + 1, 3, 40 << 10, ChunkSize, 7}
	frame := func(i int) *pb.ChannelFrame {
		return &pb.ChannelFrame{CallId: uint64(i + 1), BodyChunk: bytes.Repeat([]byte{byte('a' + i)}, sizes[i]), End: i%2 == 0}
	}
	errc := make(chan error, 1)
	go func() {
		for i := range sizes {
			if err := tx.Send(frame(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- tx.conn.(*net.UnixConn).CloseWrite()
	}()
	for i := range sizes {
		want := frame(i)
		got, err := rx.Recv()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.GetCallId() != want.CallId || got.GetEnd() != want.End || !bytes.Equal(got.GetBodyChunk(), want.BodyChunk) {
			t.Fatalf("frame %d: call %d end %v %d body bytes, want call %d end %v %d bytes", i, got.GetCallId(), got.GetEnd(), len(got.GetBodyChunk()), want.CallId, want.End, len(want.BodyChunk))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

// directSocketPair returns the two ends of a unix socket pair.
func directSocketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}
