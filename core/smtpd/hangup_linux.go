package smtpd

import (
	"errors"

	"golang.org/x/sys/unix"
)

// closedBehindData reports whether the peer of socket fd has closed its
// sending side (a FIN) or reset the connection, whether or not data it
// sent before is still unread: Linux's POLLRDHUP, which a peek cannot
// see past unread data. known is false when poll fails.
func closedBehindData(fd int) (closed, known bool) {
	for {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
		_, err := unix.Poll(p, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, false
		}
		return p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0, true
	}
}
