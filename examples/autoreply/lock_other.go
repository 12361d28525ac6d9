//go:build !unix

package main

import "os"

// lockExclusive needs flock(2): a plugin runs under Sluice, which runs on
// Unix systems (README, Set-up), and the build stops here saying so.
func lockExclusive(*os.File) error {
	return Sluice_needs_a_Unix_system_Linux_BSD_or_macOS
}
