//go:build unix

package sdk

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
)

// newDirectPair makes the socket pair of a direct channel and adds the
// plugin's end to cmd's inherited files.
func newDirectPair(cmd *exec.Cmd) (*directPair, error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "sluice-direct-channel")
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		syscall.Close(fds[1])
		return nil, err
	}
	child := os.NewFile(uintptr(fds[1]), "sluice-direct-channel")
	cmd.ExtraFiles = append(cmd.ExtraFiles, child)
	// exec puts ExtraFiles[i] at descriptor 3+i in the child.
	return &directPair{conn: conn, child: child, fd: uint32(2 + len(cmd.ExtraFiles))}, nil
}
