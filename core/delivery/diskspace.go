package delivery

import (
	"time"

	"github.com/sluice-mta/sluice/internal/diskfree"
)

// spaceRecheck is how often a scheduler holding back for lack of disk
// space asks again (it also asks at each wake-up: Kick, a notification).
const spaceRecheck = 10 * time.Second

// diskShort reports whether the queue's file system has less than
// queue_minfree free. Every attempt ends in a commit (its outcomes, maybe
// a report), and a commit Pebble cannot write is a fatal storage error
// that ends the daemon; so while the disk is short the scheduler starts no
// attempt and dials no one. The messages stay queued as they are, nothing
// is written, and the listener answers 452 4.3.1 meanwhile. The start and
// the end of a hold are logged once each. Called by Run's goroutine only.
func (a *Agent) diskShort() bool {
	if a.freeSpace == nil || a.minFree == nil {
		return false
	}
	min := a.minFree()
	if min < 0 {
		// queue_minfree = -1, maybe set by a reload during a hold: end
		// the hold as space coming back would, so that the log says
		// delivery resumed and a check turned on again logs its next hold.
		if a.holding {
			a.log.Info("delivery: queue_minfree is off, resuming")
		}
		a.holding, a.spaceUnknown = false, false
		return false
	}
	free, err := a.freeSpace()
	if err != nil {
		// As the listener does: a file system that cannot be asked does
		// not stop mail; a write that fails still stops the store.
		if !a.spaceUnknown {
			a.log.Warn("delivery: queue free space unknown", "err", err)
		}
		a.spaceUnknown = true
		return false
	}
	a.spaceUnknown = false
	short := !diskfree.Enough(free, min, 0)
	if short != a.holding {
		a.holding = short
		if short {
			a.log.Warn("delivery: holding back, the queue's disk is short; no attempt starts until space is freed",
				"free", free, "queue_minfree", min)
		} else {
			a.log.Info("delivery: the queue's disk has space again, resuming", "free", free, "queue_minfree", min)
		}
	}
	return short
}
