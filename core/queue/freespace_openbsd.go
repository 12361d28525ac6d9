package queue

import "golang.org/x/sys/unix"

// availBytes is statfs(2)'s f_bavail times f_bsize, named F_bavail and
// F_bsize in x/sys/unix on OpenBSD; f_bavail is signed, negative when
// root's reserve is in use, as on FreeBSD.
func availBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.F_bavail * int64(st.F_bsize), nil
}
