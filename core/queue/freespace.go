package queue

import "fmt"

// FreeSpace returns the bytes an unprivileged writer may still use on the
// file system holding the queue: what the listener checks against
// queue_minfree before it takes a message, and delivery before it starts
// an attempt, since a write Pebble cannot complete stops the store.
func (s *Store) FreeSpace() (int64, error) { return FreeSpaceAt(s.dir) }

// FreeSpaceAt returns the bytes an unprivileged writer may still use on
// the file system holding dir: statfs(2)'s or statvfs(2)'s f_bavail, the
// blocks free to a user who is not root, times the size those blocks are
// counted in, which each system names its own way (freespace_*.go). A
// system with none of them returns an error, which the callers take as
// "unknown": the queue opens and mail flows, unchecked.
func FreeSpaceAt(dir string) (int64, error) { return availBytes(dir) }

// SpaceError is Open's refusal to start on a file system with less than
// Options.MinFree free.
type SpaceError struct {
	Dir        string
	Free, Need int64
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("data_dir %s: only %d bytes free on its file system, need at least %d (queue_minfree)", e.Dir, e.Free, e.Need)
}

// checkFreeSpace refuses to open a queue whose file system has less than
// opt.MinFree free. A file system that cannot be asked is logged and let
// through: Open then reports what is wrong with it.
func checkFreeSpace(dir string, opt Options) error {
	if opt.MinFree <= 0 {
		return nil
	}
	free, err := opt.freeSpace(dir)
	if err != nil {
		opt.Logger.Warn("queue: free space of data_dir unknown", "data_dir", dir, "err", err)
		return nil
	}
	if free < opt.MinFree {
		return &SpaceError{Dir: dir, Free: free, Need: opt.MinFree}
	}
	return nil
}
