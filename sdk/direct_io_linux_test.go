//go:build linux

package sdk

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// unixPair returns the two ends of a unix stream socket pair.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: t.TempDir() + "/s", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan *net.UnixConn, 1)
	go func() {
		c, _ := ln.AcceptUnix()
		done <- c
	}()
	a, err := net.DialUnix("unix", nil, ln.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	b := <-done
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// A request handed to writeBeforeRead goes out with the next read, which
// then returns the answer — also when the connection cannot take it all
// at once (a small send buffer or pipe), the rest going the ordinary way.
func TestWriteBeforeRead(t *testing.T) {
	for _, kind := range []string{"socket", "pipes"} {
		for _, size := range []int{10, 64 << 10} {
			a, b := smallConnPair(t, kind)
			_ = a.SetDeadline(time.Now().Add(10 * time.Second))
			req := bytes.Repeat([]byte("r"), size)
			got := make(chan []byte, 1)
			go func() {
				buf := make([]byte, size)
				_, err := io.ReadFull(b, buf)
				if err != nil {
					got <- nil
					return
				}
				got <- buf
				_, _ = b.Write([]byte("answer"))
			}()
			s := newSocketIO(a)
			s.writeBeforeRead(req)
			buf := make([]byte, 64)
			var answer []byte
			for len(answer) < len("answer") {
				n, err := s.read(buf)
				if err != nil || n == 0 {
					t.Fatalf("%s, size %d: read %d, %v", kind, size, n, err)
				}
				answer = append(answer, buf[:n]...)
			}
			if string(answer) != "answer" {
				t.Fatalf("%s, size %d: answer %q", kind, size, answer)
			}
			if sent := <-got; !bytes.Equal(sent, req) {
				t.Fatalf("%s, size %d: the peer got %d bytes, want the %d of the request", kind, size, len(sent), size)
			}
		}
	}
}

// smallConnPair returns two connected ends of kind "socket" or "pipes"
// whose first end's writes go through a buffer of about 4 KiB.
func smallConnPair(t *testing.T, kind string) (streamConn, streamConn) {
	if kind == "socket" {
		a, b := unixPair(t)
		_ = a.SetWriteBuffer(4096)
		return a, b
	}
	a, b := directPipePair(t)
	c, err := a.w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const fSetPipeSz = 1031 // F_SETPIPE_SZ, fcntl(2)
	var errno syscall.Errno
	_ = c.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, 4096)
	})
	if errno != 0 {
		t.Fatal(errno)
	}
	return a, b
}

// A wait that fails before it begins (its deadline already past) still
// sends the request, as a write before the wait would have.
func TestWriteBeforeReadPastDeadline(t *testing.T) {
	for _, kind := range []string{"socket", "pipes"} {
		a, b := smallConnPair(t, kind)
		_ = a.SetDeadline(time.Now().Add(-time.Second))
		s := newSocketIO(a)
		s.writeBeforeRead([]byte("request"))
		if _, err := s.read(make([]byte, 16)); err == nil {
			t.Fatalf("%s: read past its deadline succeeded", kind)
		}
		_ = b.SetDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len("request"))
		if _, err := io.ReadFull(b, got); err != nil || string(got) != "request" {
			t.Fatalf("%s: peer got %q, %v", kind, got, err)
		}
	}
}

// The plugin's end writes a call's plain answer from inside the wait for
// the next call (deferLast): nothing is written at Send, and the next
// Recv sends it, then returns the call that follows.
func TestPluginAnswerGoesWithNextRead(t *testing.T) {
	plugin, core := directPipePair(t)
	_ = plugin.SetDeadline(time.Now().Add(10 * time.Second))
	_ = core.SetDeadline(time.Now().Add(10 * time.Second))
	st := newDirectStream(plugin)
	st.deferLast = true
	answer := &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{}}}
	if err := st.Send(answer); err != nil {
		t.Fatal(err)
	}
	rc, err := core.r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errno syscall.Errno
	_ = rc.Control(func(fd uintptr) {
		_, errno = rawRead(fd, make([]byte, 64))
	})
	if errno != syscall.EAGAIN {
		t.Fatalf("the answer was written at Send (read: %v), not with the next read", errno)
	}
	next := make(chan *pb.ChannelFrame, 1)
	go func() {
		f, err := st.Recv()
		if err != nil {
			t.Error(err)
		}
		next <- f
	}()
	cs := newDirectStream(core)
	f, err := cs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if f.GetCallId() != 1 || !f.GetEnd() || f.GetVerdict() == nil {
		t.Fatalf("core read %v, want the plain verdict", f)
	}
	if err := cs.Send(&pb.ChannelFrame{CallId: 1, Frame: &pb.ChannelFrame_Cancel{Cancel: &pb.ChannelCancel{}}}); err != nil {
		t.Fatal(err)
	}
	if f := <-next; f.GetCancel() == nil {
		t.Fatalf("plugin read %v, want the core's next frame", f)
	}
}

// rawRead is one read(2) on fd.
func rawRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(n), errno
}
