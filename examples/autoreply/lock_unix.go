//go:build unix

package main

import (
	"os"
	"syscall"
)

// lockExclusive waits for flock(2)'s exclusive lock on f, which the
// close of f releases: the two processes of a reload take turns.
func lockExclusive(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
}
