package queue

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// damaged is the error of a queue Pebble finds damaged at open (a disk
// error, something else writing in dir). Unlike a stage's state file,
// which a start sets aside and does without, the queue holds the mail
// Sluice accepted (each a 250 given): starting without it would lose
// that mail unsaid, so the start stops and says what the operator can
// do.
func damaged(dir string, err error) error {
	if d := errorDetails(err); len(d) > 0 {
		err = fmt.Errorf("%w (%s)", err, strings.Join(d, "; "))
	}
	return fmt.Errorf("queue: open %s: %w: the queue is damaged and holds the mail Sluice accepted, so Sluice does not start without it; "+
		"restore %s from a backup, or move it away (keeping it for its mail) to start with an empty queue, "+
		"then copy its plugins/ directory and tlsrpt.json back", dir, err, dir)
}

// errorDetails returns the details Pebble attaches to err beside its
// message (cockroachdb/errors' WithDetail), which err.Error() leaves out:
// for a damaged WAL, the only place that names the log and the offset
// ("replaying wal 6, offset (DIR/000006.log: 249855)").
func errorDetails(err error) []string {
	var out []string
	for ; err != nil; err = errors.Unwrap(err) {
		if d, ok := err.(interface{ ErrorDetail() string }); ok && d.ErrorDetail() != "" {
			out = append(out, d.ErrorDetail())
		}
	}
	return out
}

// walFormat is the oldest Pebble format whose WAL records carry the
// offset synced so far (FormatWALSyncChunks). Without it, Pebble's replay
// takes a damaged record in the middle of the WAL (a disk error) for the
// torn tail a crash leaves, and stops there: every message accepted after
// it, each with its 250, was dropped unsaid. With it, a damaged record
// followed by synced ones is corruption, and the start stops with the
// damaged-queue error (the offsets are syncedOffsetFS's: Pebble's own
// fall behind). Still read as a torn tail: damage in the WAL's last
// 32 KiB block, which Pebble's replay does not read ahead in, and damage
// in the last records synced, which no synced record follows. A queue
// made with an older format is moved up to this one at open (Pebble
// ratchets the format; there is no going back, which only a downgraded
// Sluice built on an older Pebble would notice).
const walFormat = pebble.FormatWALSyncChunks

// walFormatBelow reports whether the queue in dir is new or of a format
// older than walFormat. Pebble picks a WAL's record format when it
// starts the WAL, and at open it starts one before it ratchets the
// format up: that first WAL, of a new queue or an upgraded one, would be
// written without sync offsets for as long as it lasts.
func walFormatBelow(dir string, fs vfs.FS) bool {
	desc, err := pebble.Peek(dir, fs)
	return err != nil || !desc.Exists || desc.FormatMajorVersion < walFormat
}

// startSyncedWAL makes Pebble start a new WAL, in walFormat's record
// format, before the queue takes its first message. Flushing the
// memtable is how, and a quick one: it is empty, new queue or upgraded,
// since Pebble's open has already flushed what it replayed (open.go,
// replayWAL's flushForced) before starting the WAL this replaces.
func startSyncedWAL(db *pebble.DB) error {
	if err := db.Flush(); err != nil {
		return fmt.Errorf("starting a WAL with sync offsets: %w", err)
	}
	return nil
}
