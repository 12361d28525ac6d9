//go:build !linux

package plugin

import "os/exec"

// dieWithParent is Linux-only (PR_SET_PDEATHSIG); elsewhere a plugin
// outlives a core killed by SIGKILL until it notices its closed pipes.
func dieWithParent(*exec.Cmd) {}
