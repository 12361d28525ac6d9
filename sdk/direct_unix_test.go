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
// than the buffer, and body chunks larger than a write the connection
// takes at once; over a socket pair and over a pipe pair.
func TestDirectStreamFrames(t *testing.T) {
	for _, kind := range []string{"socket", "pipes"} {
		t.Run(kind, func(t *testing.T) {
			var a, b streamConn
			closeWrite := func() error { return a.(*net.UnixConn).CloseWrite() }
			if kind == "socket" {
				a, b = directSocketPair(t)
			} else {
				pa, pb := directPipePair(t)
				a, b = pa, pb
				closeWrite = pa.w.Close
			}
			testDirectStreamFrames(t, a, b, closeWrite)
		})
	}
}

func testDirectStreamFrames(t *testing.T, a, b streamConn, closeWrite func() error) {
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
		errc <- closeWrite()
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

// directPipePair returns two connections of two pipes, each reading what
// the other writes.
func directPipePair(t *testing.T) (*pipeConn, *pipeConn) {
	t.Helper()
	r1, w1, err := cloexecPipe()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := cloexecPipe()
	if err != nil {
		t.Fatal(err)
	}
	a, err := newPipeConn(r1, w2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newPipeConn(r2, w1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// The core passes a connection's pipes over the control socket, and the
// plugin's acceptConns serves them: a frame goes each way. A pipe message
// short of a descriptor (the kernel installs what fits under the plugin's
// open-file limit) is dropped with its descriptors closed, and the channel
// goes on serving: it used to end, and every later call went over gRPC.
func TestPassPipes(t *testing.T) {
	ctlCore, ctlPlugin := directSocketPair(t)
	// Closed at the end, not by the collector's finalizer once the test
	// no longer uses it: that end's close is what ends acceptConns.
	defer ctlCore.Close()
	served := make(chan streamConn, 2)
	acceptErr := make(chan error, 1)
	go func() {
		acceptErr <- acceptConns(ctlPlugin.(*net.UnixConn), func(c streamConn) { served <- c })
	}()
	exchange := func() {
		t.Helper()
		core, err := passPipes(ctlCore.(*net.UnixConn))
		if err != nil {
			t.Fatal(err)
		}
		defer core.Close()
		plugin := <-served
		defer plugin.Close()
		if _, ok := plugin.(*pipeConn); !ok {
			t.Fatalf("the plugin got a %T, want a pipe pair", plugin)
		}
		tx, rx := newDirectStream(core), newDirectStream(plugin)
		if err := tx.Send(&pb.ChannelFrame{CallId: 7, End: true}); err != nil {
			t.Fatal(err)
		}
		if f, err := rx.Recv(); err != nil || f.GetCallId() != 7 {
			t.Fatalf("plugin got %v, %v", f, err)
		}
		if err := rx.Send(&pb.ChannelFrame{CallId: 8}); err != nil {
			t.Fatal(err)
		}
		if f, err := tx.Recv(); err != nil || f.GetCallId() != 8 {
			t.Fatalf("core got %v, %v", f, err)
		}
	}
	exchange()

	// One descriptor on 'P': dropped, and closed.
	r, w, err := cloexecPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(r)
	if err := syscall.SetNonblock(r, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ctlCore.(*net.UnixConn).WriteMsgUnix([]byte{'P'}, syscall.UnixRights(w), nil); err != nil {
		t.Fatal(err)
	}
	syscall.Close(w)
	// The channel still serves: the next pair goes through. By then the
	// short message was handled (one reader, in order).
	exchange()
	// Every write end is closed (ours above, the plugin's copy by
	// acceptConns): the read end sees the end of the stream.
	if n, err := syscall.Read(r, make([]byte, 1)); n != 0 || err != nil {
		t.Fatalf("read of the dropped pipe: %d, %v; want the end (its write end leaked)", n, err)
	}
	select {
	case err := <-acceptErr:
		t.Fatalf("acceptConns ended: %v", err)
	default:
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
