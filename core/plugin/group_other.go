//go:build !unix

package plugin

import "os/exec"

// ownGroup and killGroup are Unix-only: elsewhere a kill reaches the
// plugin's own process only.
func ownGroup(*exec.Cmd) {}
func killGroup(int)      {}
