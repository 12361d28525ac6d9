package smtpd

import (
	"fmt"

	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/diskfree"
)

// insufficientStorage answers when the queue's disk is nearly full (RFC
// 5321 §4.2.2 452, RFC 3463 X.3.1 "mail system full"): the client keeps
// the message and tries again, rather than Sluice taking what it might
// not be able to write.
var insufficientStorage = reply.Reply{Code: 452, Enhanced: [3]int{4, 3, 1}, Text: "Insufficient system storage"}

// checkSpace refuses a message of size bytes (0 when unknown) when taking
// it would leave less than queue_minfree free for the queue, as Postfix's
// smtpd does with queue_minfree. A file system that cannot be asked is
// logged and let through: the queue's own write errors still stand
// between a failed write and a 250.
func (s *Server) checkSpace(size int64) *reply.Reply {
	if s.freeSpace == nil {
		return nil
	}
	min := s.minFree()
	if min < 0 {
		return nil
	}
	free, err := s.freeSpace()
	if err != nil {
		s.log.Warn("queue free space unknown", "err", err)
		return nil
	}
	if !diskfree.Enough(free, min, size) {
		return insufficientStorage.With(fmt.Sprintf("%d bytes free for the queue, %d needed (queue_minfree %d + message %d)", free, diskfree.Need(min, size), min, size))
	}
	return nil
}
