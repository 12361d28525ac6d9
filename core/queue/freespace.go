package queue

import "golang.org/x/sys/unix"

// FreeSpace returns the bytes an unprivileged writer may still use on the
// file system holding the queue: what the listener checks against
// queue_minfree before it takes a message, since a write Pebble cannot
// complete stops the store.
func (s *Store) FreeSpace() (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
