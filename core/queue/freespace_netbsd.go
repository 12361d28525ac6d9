package queue

import "golang.org/x/sys/unix"

// availBytes is statvfs(2)'s f_bavail times f_frsize, the fragment size
// it counts blocks in: NetBSD has no statfs(2).
func availBytes(dir string) (int64, error) {
	var st unix.Statvfs_t
	if err := unix.Statvfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Frsize), nil
}
