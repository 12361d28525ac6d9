//go:build !unix

package atomicfile

import "os"

// keepOwner would need a Unix file's owner and group (keep_unix.go).
// Sluice runs on Unix systems (README, Set-up): Linux, the BSDs, macOS;
// the listener, the plugins' state files and the queue need Unix calls
// too. The daemon's build stops here, on a name that says why, rather
// than on some missing syscall further on.
func keepOwner(*os.File, os.FileInfo, string) error {
	return Sluice_needs_a_Unix_system_Linux_BSD_or_macOS
}
