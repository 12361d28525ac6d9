//go:build unix

package atomicfile

import (
	"fmt"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of old, when they differ.
func keepOwner(f *os.File, old os.FileInfo, path string) error {
	want, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	cur, err := f.Stat()
	if err != nil {
		return err
	}
	if have, ok := cur.Sys().(*syscall.Stat_t); ok && have.Uid == want.Uid && have.Gid == want.Gid {
		return nil
	}
	if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil {
		return fmt.Errorf("keeping the owner and group of %s (%d:%d): %w", path, want.Uid, want.Gid, err)
	}
	return nil
}
