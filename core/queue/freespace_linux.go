package queue

import "golang.org/x/sys/unix"

// availBytes is f_bavail times f_frsize, the fragment size Linux counts
// the blocks of statfs(2) in (glibc's statvfs and df use it too); a
// kernel or file system that leaves f_frsize 0 counts in f_bsize. The
// fields' types differ between 32- and 64-bit systems, hence the
// conversions.
func availBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	size := int64(st.Frsize)
	if size <= 0 {
		size = int64(st.Bsize)
	}
	return int64(st.Bavail) * size, nil
}
