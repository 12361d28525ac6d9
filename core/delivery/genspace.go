package delivery

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/sluice-mta/sluice/internal/diskfree"
)

// errDiskShort is the refusal of a generated message the queue has no
// room for; it is temporary, as SMTP's 452 4.3.1 answer to the same.
var errDiskShort = errors.New("insufficient system storage")

// queueSpace is [limits] queue_minfree for the messages Sluice generates
// outside a delivery attempt (plugin mail, mailed TLS reports): free
// reports the bytes free for the queue (queue.Store's FreeSpace), min
// returns queue_minfree as it runs now (a reload changes it). A nil free
// or min, or a negative min(): no check.
type queueSpace struct {
	free func() (int64, error)
	min  func() int64
}

// check refuses a message of size bytes, with errDiskShort, when queueing
// it would leave less than min free, as the listener and the delivery
// agent hold back then: a commit Pebble cannot write stops the store,
// and neither a plugin's loop nor a day's reports may fill the disk the
// listener keeps free. A file system that cannot be asked lets the
// message through, as there; log (prefixed what) says so.
func (s queueSpace) check(size int64, log *slog.Logger, what string) error {
	if s.free == nil || s.min == nil {
		return nil
	}
	min := s.min()
	if min < 0 {
		return nil
	}
	free, err := s.free()
	if err != nil {
		log.Warn(what+": queue free space unknown", "err", err)
		return nil
	}
	if !diskfree.Enough(free, min, size) {
		return fmt.Errorf("%w: %d bytes free for the queue, %d needed (queue_minfree %d + message %d)",
			errDiskShort, free, diskfree.Need(min, size), min, size)
	}
	return nil
}
