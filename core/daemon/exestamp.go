package daemon

import (
	"fmt"
	"os"
)

// exeStamp identifies the file a plugin stage's executable is, for the
// key that decides whether a reload keeps the stage's process: a plugin
// rebuilt or upgraded in place is restarted by the reload, as Postfix's
// `postfix reload` restarts its daemons on their new binaries. Otherwise
// the old binary ran on until the process happened to die, and was then
// replaced by the new one unannounced, at the supervisor's restart.
// First-party plugins run the sluice binary itself, which a reload does
// not replace: they are not stamped.
func exeStamp(firstParty bool, exe string) string {
	if firstParty {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		// pluginCommand has just found it; gone since, the start fails.
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
}
