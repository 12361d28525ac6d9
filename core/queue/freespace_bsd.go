//go:build darwin || dragonfly || freebsd

package queue

import "golang.org/x/sys/unix"

// availBytes is statfs(2)'s f_bavail times f_bsize, the block size these
// systems count it in. FreeBSD's f_bavail is signed, and negative when
// root's reserve is in use: the writer has less than nothing, and a
// negative result says so (below any queue_minfree).
func availBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
