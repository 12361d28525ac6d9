package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// WriteKeeping is Write for a file an administrator may have handed to
// the daemon's group: a file it replaces keeps its owner, group and mode
// (root:sluice 0640 stays readable by a daemon running as sluice, where a
// root-owned 0600 copy would lock it out); a new file gets perm. The
// temporary file takes them before the rename, so no reader sees the file
// with others. Giving it another owner needs root: without it the write
// fails and the file is left as it was. A symlink is followed: the file it
// names is replaced and the link stays (a users file kept elsewhere), where
// renaming over the link would leave that file stale and put a copy, with
// its owner and mode, in the link's place.
func WriteKeeping(path string, data []byte, perm os.FileMode) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	old, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Write(path, data, perm)
	case err != nil:
		return err
	}
	return write(path, data, func(f *os.File) error {
		if err := keepOwner(f, old, path); err != nil {
			return err
		}
		return f.Chmod(old.Mode().Perm())
	})
}
