package queue

import "fmt"

// damaged is the error of a queue Pebble finds damaged at open (a disk
// error, something else writing in dir). Unlike a stage's state file,
// which a start sets aside and does without, the queue holds the mail
// Sluice accepted (each a 250 given): starting without it would lose
// that mail unsaid, so the start stops and says what the operator can
// do.
func damaged(dir string, err error) error {
	return fmt.Errorf("queue: open %s: %w: the queue is damaged and holds the mail Sluice accepted, so Sluice does not start without it; "+
		"restore %s from a backup, or move it away (keeping it for its mail) to start with an empty queue, "+
		"then copy its plugins/ directory and tlsrpt.json back", dir, err, dir)
}
