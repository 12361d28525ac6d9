// Package statefile sets aside a state file that cannot be read: the
// stages' state (greylisting's records, verification's cache, DMARC's
// report ID key) only spares work, so its loss must not stop a start or
// a reload, and the next write would replace the file, leaving nothing
// to look at.
package statefile

import (
	"log/slog"
	"os"
)

// SetAside renames path, a state file that cannot be read (err says
// why), to path.bad and logs msg as a warning: file= names path, err=
// the reason, and set_aside= the .bad file, msg then saying that it was
// set aside. When the rename fails (a directory in the .bad's place),
// set_aside= is the rename's error, and the file stays where it is.
func SetAside(log *slog.Logger, msg, path string, err error) {
	bad := path + ".bad"
	if rerr := os.Rename(path, bad); rerr != nil {
		log.Warn(msg, "file", path, "err", err, "set_aside", rerr)
		return
	}
	log.Warn(msg+", the file set aside", "file", path, "err", err, "set_aside", bad)
}
