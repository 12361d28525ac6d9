package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/sluice-mta/sluice/core/config"
)

// checkDataDir reports, at data_dir's line, a data_dir Start could not
// create or write: one that is a file, one under a file, one in a
// directory the daemon may not write. It creates nothing, so that
// check-config, which runs it, leaves no directory behind; Start runs it
// too, so that both say the same. Whether the queue inside opens
// (another sluice holding it, a full disk) is Start's to find.
func checkDataDir(c *config.Config) error {
	dir := c.Resolve(c.DataDir)
	fail := func(format string, a ...any) error {
		return c.KeyError("", -1, "data_dir", fmt.Errorf("data_dir %q: "+format, append([]any{dir}, a...)...))
	}
	// The nearest part of the path that exists is where the queue's
	// files, or the directories leading to them, will be made.
	p := dir
	for {
		fi, err := os.Stat(p)
		// ENOTDIR: a part above is a file, which the walk up finds.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			parent := filepath.Dir(p)
			if parent == p {
				return nil
			}
			p = parent
			continue
		}
		switch {
		case err != nil:
			return fail("%v", err)
		case !fi.IsDir() && p == dir:
			return fail("is a file, not a directory")
		case !fi.IsDir():
			return fail("%s is a file, not a directory", p)
		}
		// W_OK|X_OK: to make entries in it. As root this passes but
		// on a read-only file system, as the mkdir would.
		if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
			return fail("cannot write in %s: %v", p, err)
		}
		return nil
	}
}
