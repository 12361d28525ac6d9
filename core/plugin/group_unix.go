//go:build unix

package plugin

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the plugin as the leader of a process group of its own,
// which killGroup ends with every process in it: a plugin that is a shell
// script running its program without exec, or a program that started
// helpers, leaves them holding the stdout and stderr it inherited, and
// go-plugin waits for those pipes to close before it counts the process
// as gone. Killing the script alone left them running, and the start that
// timed out, the restart, or the stop waited for them, without end for
// one hung before its handshake.
func ownGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// killGroup sends SIGKILL to the process group whose leader is pid. The
// caller makes sure the leader has not been reaped: until then its pid,
// the group's id, is not reused.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
