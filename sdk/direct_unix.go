//go:build unix

package sdk

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
)

// cloexecSocketpair makes a unix stream socket pair whose ends are not
// inherited by processes started meanwhile: ForkLock keeps a concurrent
// exec from copying them before they are marked close-on-exec.
func cloexecSocketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return [2]int{}, fmt.Errorf("socketpair: %w", err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return [2]int{fds[0], fds[1]}, nil
}

// newDirectPair makes the socket pair of a direct channel and adds the
// plugin's end to cmd's inherited files.
func newDirectPair(cmd *exec.Cmd) (*directPair, error) {
	fds, err := cloexecSocketpair()
	if err != nil {
		return nil, err
	}
	ours := os.NewFile(uintptr(fds[0]), "sluice-direct-channel")
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		syscall.Close(fds[1])
		return nil, err
	}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		conn.Close()
		syscall.Close(fds[1])
		return nil, fmt.Errorf("socketpair: got a %T", conn)
	}
	child := os.NewFile(uintptr(fds[1]), "sluice-direct-channel")
	cmd.ExtraFiles = append(cmd.ExtraFiles, child)
	// exec puts ExtraFiles[i] at descriptor 3+i in the child.
	return &directPair{conn: uc, child: child, fd: uint32(2 + len(cmd.ExtraFiles))}, nil
}

// passConn makes a new socket pair, passes one end to the plugin over the
// control socket ctl (SCM_RIGHTS, with one byte of data) and returns the
// other.
func passConn(ctl *net.UnixConn) (net.Conn, error) {
	fds, err := cloexecSocketpair()
	if err != nil {
		return nil, err
	}
	_, _, err = ctl.WriteMsgUnix([]byte{0}, syscall.UnixRights(fds[1]), nil)
	syscall.Close(fds[1]) // the plugin has its own now
	if err != nil {
		syscall.Close(fds[0])
		return nil, err
	}
	f := os.NewFile(uintptr(fds[0]), "sluice-direct-call")
	conn, err := net.FileConn(f)
	f.Close()
	return conn, err
}

// passPipes makes the two pipes of a connection (InitResponse.direct_pipes),
// passes the plugin its ends over ctl (SCM_RIGHTS on the byte 'P': the
// read end of the calls' pipe, then the write end of the answers') and
// returns the core's.
func passPipes(ctl *net.UnixConn) (streamConn, error) {
	callR, callW, err := cloexecPipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	answerR, answerW, err := cloexecPipe()
	if err != nil {
		syscall.Close(callR)
		syscall.Close(callW)
		return nil, fmt.Errorf("pipe: %w", err)
	}
	_, _, err = ctl.WriteMsgUnix([]byte{'P'}, syscall.UnixRights(callR, answerW), nil)
	syscall.Close(callR) // the plugin has its own now
	syscall.Close(answerW)
	if err == nil {
		var c *pipeConn
		if c, err = newPipeConn(answerR, callW); err == nil {
			return c, nil
		}
	}
	syscall.Close(answerR)
	syscall.Close(callW)
	return nil, err
}

// acceptConns receives the connections the core passes over the control
// socket ctl, a socket each or a pair of pipes on the byte 'P', and
// serves each with serve, until ctl ends.
func acceptConns(ctl *net.UnixConn, serve func(streamConn)) error {
	buf := make([]byte, 64)
	oob := make([]byte, syscall.CmsgSpace(16*4))
	for {
		n, oobn, _, _, err := ctl.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			msgs, perr := syscall.ParseSocketControlMessage(oob[:oobn])
			if perr != nil {
				return perr
			}
			var fds []int
			for _, m := range msgs {
				if got, perr := syscall.ParseUnixRights(&m); perr == nil {
					fds = append(fds, got...)
				}
			}
			for _, fd := range fds {
				syscall.CloseOnExec(fd)
			}
			if n == 1 && buf[0] == 'P' {
				// A pair short of a descriptor (the kernel installs what
				// fits under the open-file limit and sets MSG_CTRUNC) or
				// one that cannot be set up is dropped: the core's call
				// on it sees the end of the pipe and fails alone, and
				// the channel goes on serving the next ones.
				if c, ok := pipePair(fds); ok {
					go serve(c)
				} else {
					closeAll(fds)
				}
				fds = nil
			}
			for _, fd := range fds {
				f := os.NewFile(uintptr(fd), "sluice-direct-call")
				conn, cerr := net.FileConn(f)
				f.Close()
				if cerr == nil {
					go serve(conn)
				}
			}
		}
		if err != nil {
			return err
		}
		if n == 0 && oobn == 0 {
			return nil // the core closed the control socket
		}
	}
}

// pipePair makes the connection of a pipe message's two descriptors.
func pipePair(fds []int) (*pipeConn, bool) {
	if len(fds) != 2 {
		return nil, false
	}
	c, err := newPipeConn(fds[0], fds[1])
	return c, err == nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}
