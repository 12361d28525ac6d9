//go:build linux

package sdk

import (
	"io"
	"syscall"
	"unsafe"
)

// socketIO reads and writes a direct channel connection (a socket or a
// pipe pair) with raw read(2) and write(2), waiting for it through the
// runtime's poller as net.Conn does. The descriptors are non-blocking, so neither call ever blocks, and skipping
// the runtime's system call entry and exit (which net.Conn goes through)
// keeps the runtime's monitor thread asleep: each entry after an idle
// spell woke it, and it then polled every 20 µs until the process was
// idle again. In a no-op plugin that was as many context switches as the
// calls themselves.
type socketIO struct {
	conn streamConn
	rc   syscall.RawConn // nil: conn has no descriptor; use conn
	// wc writes: rc for a socket, the other pipe's for a pipe pair.
	wc    syscall.RawConn
	split bool // wc is not rc

	// The callbacks and their arguments and results live here, so a read
	// or a write allocates nothing.
	rbuf      []byte
	rn        int
	rerr      error
	readFn    func(fd uintptr) bool
	wbuf      []byte
	werr      error
	writeFn   func(fd uintptr) bool
	pendingFn func(fd uintptr)

	// pending is a request that the next read writes first (see
	// writeBeforeRead); flush says it could not all go that way. pendErr
	// is the error of one written at once, for the next read to return.
	pending []byte
	flush   bool
	pendErr error
}

func newSocketIO(conn streamConn) *socketIO {
	s := &socketIO{conn: conn}
	switch c := conn.(type) {
	case *pipeConn:
		if r, w, err := c.rawConns(); err == nil {
			s.rc, s.wc, s.split = r, w, true
		}
	case syscall.Conn:
		if rc, err := c.SyscallConn(); err == nil {
			s.rc, s.wc = rc, rc
		}
	}
	s.readFn = s.readOnce
	s.writeFn = s.writeSome
	s.pendingFn = s.writePending
	return s
}

func (s *socketIO) readOnce(fd uintptr) bool {
	if len(s.pending) > 0 {
		if !s.split {
			s.writePending(fd)
		} else if err := s.wc.Control(s.pendingFn); err != nil {
			s.flush = true // closed: the ordinary write reports it
		}
		if s.flush {
			// The socket is full (or failed): read returns to write the
			// rest the ordinary way, which waits or reports the error.
			return true
		}
		// The answer takes the peer a while: wait for it rather than
		// find nothing yet.
		return false
	}
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.rbuf))), uintptr(len(s.rbuf)))
		switch errno {
		case 0:
			s.rn, s.rerr = int(n), nil
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until it is readable
		default:
			s.rn, s.rerr = 0, errno
			return true
		}
	}
}

// writePending writes what it can of the pending request on fd, the
// writing descriptor; flush says the rest is left for write.
func (s *socketIO) writePending(fd uintptr) {
	var errno syscall.Errno
	if s.pending, errno = rawWrite(fd, s.pending); errno != 0 {
		s.flush = true
	}
}

func (s *socketIO) writeSome(fd uintptr) bool {
	var errno syscall.Errno
	switch s.wbuf, errno = rawWrite(fd, s.wbuf); errno {
	case 0:
		return true
	case syscall.EAGAIN:
		return false // wait until it is writable
	default:
		s.werr = errno
		return true
	}
}

// rawWrite writes what it can of b on fd with write(2), again after an
// interruption; it returns what is left and the error that stopped it, 0
// when all of b went.
func rawWrite(fd uintptr, b []byte) ([]byte, syscall.Errno) {
	for len(b) > 0 {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		switch errno {
		case 0:
			b = b[n:]
		case syscall.EINTR:
		default:
			return b, errno
		}
	}
	return b, 0
}

// read reads at least one byte into b, or fails; 0, nil is the end of
// the stream.
func (s *socketIO) read(b []byte) (int, error) {
	if err := s.pendErr; err != nil {
		s.pendErr = nil
		return 0, err
	}
	if s.rc == nil {
		n, err := s.conn.Read(b)
		if n > 0 {
			return n, nil
		}
		if err == io.EOF {
			return 0, nil
		}
		return 0, err
	}
	s.rbuf = b
	err := s.rc.Read(s.readFn)
	s.rbuf = nil
	if s.flush {
		rest := s.pending
		s.pending, s.flush = nil, false
		if err == nil {
			err = s.write(rest)
		}
		if err == nil {
			return s.read(b)
		}
	}
	if err != nil && len(s.pending) > 0 {
		// The wait failed before it began (a deadline already past, an
		// interruption): the request still goes out, as it would have
		// before the wait, so the peer sees every call it was sent.
		_ = s.wc.Control(func(fd uintptr) {
			_, _, _ = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.pending))), uintptr(len(s.pending)))
		})
	}
	s.pending = nil
	if err != nil {
		return 0, err
	}
	return s.rn, s.rerr
}

// writeBeforeRead has the next read write b first, from inside the wait
// for the answer: the wait is armed before the request goes out, so the
// answer cannot be missed, and the read that would only have found
// nothing yet (EAGAIN) is not made. b must stay untouched until then.
func (s *socketIO) writeBeforeRead(b []byte) {
	if s.rc == nil {
		s.pendErr = s.write(b)
		return
	}
	s.pending = b
}

// write writes all of b, or fails.
func (s *socketIO) write(b []byte) error {
	if s.rc == nil {
		_, err := s.conn.Write(b)
		return err
	}
	s.wbuf, s.werr = b, nil
	err := s.wc.Write(s.writeFn)
	s.wbuf = nil
	if err != nil {
		return err
	}
	return s.werr
}
