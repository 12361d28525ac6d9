//go:build interop

package interop

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// peerDeathRole is set in the copies of the test binary that
// TestPeerDaemonDiesWithTest runs: "parent" (a test run that starts a
// peer) or "daemon" (the peer).
const peerDeathRole = "SLUICE_PEER_DEATH_ROLE"

// A peer daemon outlives no test binary: killed with SIGKILL, a parent
// that started one with startPeerDaemon takes it along. The daemon holds
// the write end of a pipe, so the read end's EOF is its exit, with no
// polling of its pid (which init may not reap here).
func TestPeerDaemonDiesWithTest(t *testing.T) {
	switch os.Getenv(peerDeathRole) {
	case "parent":
		peerDeathParent()
	case "daemon":
		peerDeathDaemon()
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	parent := exec.Command(os.Args[0], "-test.run=^TestPeerDaemonDiesWithTest$")
	parent.Env = append(os.Environ(), peerDeathRole+"=parent", "PEER_ADDR="+freeAddr(t), "PEER_LOG="+filepath.Join(t.TempDir(), "daemon.out"))
	parent.ExtraFiles = []*os.File{w}
	parent.Stderr = os.Stderr
	stdin, err := parent.StdinPipe() // the parent exits at its EOF, should this test die first
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the parent and the daemon hold it now
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(line[:max(len(line)-1, 0)])
	if err != nil || perr != nil {
		_ = parent.Process.Kill()
		_ = parent.Wait()
		t.Fatalf("the parent did not name its daemon: %q %v", line, err)
	}
	_ = parent.Process.Kill()
	_ = parent.Wait()
	gone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, r); close(gone) }()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL) // still alive: the pipe says so
		t.Fatalf("peer daemon %d outlived the test binary that started it", pid)
	}
}

// peerDeathParent starts the daemon as a test does, prints its pid and
// waits for its own end: a SIGKILL, or EOF on stdin.
func peerDeathParent() {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeerDaemonDiesWithTest$")
	cmd.Env = append(os.Environ(), peerDeathRole+"=daemon")
	cmd.ExtraFiles = []*os.File{os.NewFile(3, "pipe")}
	d, err := startPeerDaemon("daemon", cmd, os.Getenv("PEER_LOG"), os.Getenv("PEER_ADDR"), 20*time.Second, time.Second)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString(strconv.Itoa(d.cmd.Process.Pid) + "\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	d.stop()
	os.Exit(0)
}

// peerDeathDaemon listens on PEER_ADDR until a signal ends it, holding
// the pipe (descriptor 3) open.
func peerDeathDaemon() {
	ln, err := net.Listen("tcp", os.Getenv("PEER_ADDR"))
	if err != nil {
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		c.Close()
	}
}
