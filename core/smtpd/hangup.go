package smtpd

import (
	"errors"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// watchHangup calls gone if the client at the other end of nc closes the
// connection before stop is called: a session waiting before a reply
// (the error tarpit) learns that no one is left to read it, and ends at
// once rather than hold its max_connections slot for the wait. It reads
// nothing of the stream. In the clear it peeks at the socket, so only a
// close with nothing unread before it is seen: a client that sent more
// first (pipelined commands) is taken to be there, and its hang-up is
// found when the wait is over, as before. Under TLS (underTLS) a close
// always has something unread before it, the close_notify alert every
// TLS client sends first (RFC 8446 §6.1), which TLS 1.3 encrypts as it
// does data: there a FIN or a reset seen behind unread records
// (closedBehindData) is the hang-up, whatever the records hold, and the
// records stay for the TLS reader. Where the system cannot tell
// (closedBehindData not known), TLS is watched as the clear is. No one
// else may read nc until stop returns; stop ends the watch with a read
// deadline, then leaves one readAfter from now, which the next read
// replaces with its own (go-smtp sets one per line).
func watchHangup(nc net.Conn, underTLS bool, gone func(), readAfter time.Duration) (stop func()) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return func() {}
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		_ = rc.Read(func(fd uintptr) bool {
			if underTLS {
				if closed, known := closedBehindData(int(fd)); known {
					if closed {
						gone()
					}
					// Not closed: records or nothing, wait for what comes
					// next (the FIN after a close_notify among it).
					return closed
				}
			}
			for {
				n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
				switch {
				case errors.Is(err, unix.EINTR):
					continue
				case errors.Is(err, unix.EAGAIN):
					return false // nothing yet: wait until the socket is readable
				case err != nil || n == 0:
					gone() // reset, or the end of the stream
				}
				return true
			}
		})
	}()
	return func() {
		_ = tc.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = tc.SetReadDeadline(time.Now().Add(readAfter))
	}
}
