package plugin

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the plugin if the core dies, even by
// SIGKILL, so no plugin process outlives the daemon that started it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
