//go:build unix

package policy

import (
	"errors"
	"syscall"
)

// stale reports whether the server closed c, or wrote to it unasked,
// while it was idle: a look at the socket, without waiting, must find
// nothing to read yet. (A read with a deadline already past is not
// tried at all: it would say nothing.)
func (c *conn) stale() bool {
	if c.r.Buffered() > 0 {
		return true
	}
	sc, ok := c.c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	stale := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Data, or the end of the stream (either way no error), or an
		// error: the connection is no use. Nothing to read yet is
		// EAGAIN.
		stale = !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK)
		return true
	})
	return stale || err != nil
}
