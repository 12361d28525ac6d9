// Package atomicfile replaces a file so that a reader (or a restart after a
// crash) sees the old content or the new, never a mix.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, mode perm: a synced temporary file in the
// same directory is renamed over it, then the directory is synced so the
// rename itself is durable.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, func(f *os.File) error { return f.Chmod(perm) })
}

// write is Write with the temporary file's mode (and owner) set by meta.
func write(path string, data []byte, meta func(*os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := meta(f); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
