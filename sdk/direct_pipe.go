//go:build unix

package sdk

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// pipeConn is a direct channel connection made of two pipes, one each
// way (InitResponse.direct_pipes). A round trip over pipes costs about a
// third less CPU than over a unix socket pair, and reading from a pipe
// does not wake its writer's poller, as reading from a socket does (the
// socket then has room to write again, which the writer's poller hears).
type pipeConn struct {
	r, w *os.File
}

// newPipeConn makes a connection of the pipe descriptors r (read end)
// and w (write end), switching them to non-blocking so the runtime's
// poller waits for them.
func newPipeConn(r, w int) (*pipeConn, error) {
	for _, fd := range []int{r, w} {
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, err
		}
	}
	return &pipeConn{r: os.NewFile(uintptr(r), "sluice-direct-call-r"), w: os.NewFile(uintptr(w), "sluice-direct-call-w")}, nil
}

func (c *pipeConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *pipeConn) Write(b []byte) (int, error) { return c.w.Write(b) }

// Close closes both pipes: the peer's reads see the end, its writes fail.
func (c *pipeConn) Close() error {
	return errors.Join(c.r.Close(), c.w.Close())
}

// SetDeadline sets the read end's read deadline and the write end's write
// deadline, as a socket's covers both ways. (Each end's other deadline
// would be a runtime timer per call for nothing: it is never used.)
func (c *pipeConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}

// rawConns returns the descriptors' raw access for reading and writing.
func (c *pipeConn) rawConns() (r, w syscall.RawConn, err error) {
	if r, err = c.r.SyscallConn(); err != nil {
		return nil, nil, err
	}
	if w, err = c.w.SyscallConn(); err != nil {
		return nil, nil, err
	}
	return r, w, nil
}

// cloexecPipe makes a pipe whose ends are not inherited by processes
// started meanwhile (see cloexecSocketpair).
func cloexecPipe() (r, w int, err error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		return -1, -1, err
	}
	syscall.CloseOnExec(p[0])
	syscall.CloseOnExec(p[1])
	return p[0], p[1], nil
}
