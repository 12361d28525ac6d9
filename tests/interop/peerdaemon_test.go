//go:build interop

package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peerDaemon is a peer (Exim, OpenSMTPD, Dovecot, rspamd, a milter) run in
// the foreground in its own process group, its stdout and stderr in a
// file. Each peer keeps its own config, namespace flags and routes; this
// is only the starting, waiting and stopping they share.
type peerDaemon struct {
	name, logFile string
	cmd           *exec.Cmd
	done          chan struct{} // closed once cmd has exited
	stopWait      time.Duration
	stopOnce      sync.Once
}

// startPeerDaemon starts cmd with its output in logFile and waits up to
// wait for addr to accept connections. If the daemon exits first it fails
// at once; either way the error holds its log, and the daemon is stopped.
// stopWait is how long stop gives it between SIGTERM and SIGKILL.
func startPeerDaemon(name string, cmd *exec.Cmd, logFile, addr string, wait, stopWait time.Duration) (*peerDaemon, error) {
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	// The child has its own copy of the descriptor.
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// A group of its own, so that stop reaches what the daemon forked
	// (Exim's delivery processes, smtpd's privilege-separated ones).
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// The kernel sends the daemon SIGTERM when the test binary dies (a
	// -timeout panic, a SIGKILL), which would otherwise leave it running,
	// ports and all; SIGTERM rather than core/plugin's SIGKILL, so that
	// the daemon stops what it forked, which Pdeathsig does not reach.
	// Linux sends it when the thread that started the daemon exits, not
	// the process: Go ends a thread only when a goroutine locked to it
	// (runtime.LockOSThread) returns, which no caller does. It is lost
	// if the daemon's own credentials change (a set-user-ID binary, a
	// main process that drops root); the peers' main processes keep root.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &peerDaemon{name: name, logFile: logFile, cmd: cmd, done: make(chan struct{}), stopWait: stopWait}
	go func() { _ = cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(wait)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-d.done:
			d.stop()
			return nil, fmt.Errorf("%s exited before listening on %s:\n%s", name, addr, d.log())
		case <-time.After(50 * time.Millisecond): // polling the port, bounded
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s not listening on %s after %v:\n%s", name, addr, wait, d.log())
		}
	}
}

// stop sends the process group SIGTERM, then SIGKILL if the daemon has
// not exited within stopWait. Calling it again does nothing.
func (d *peerDaemon) stop() {
	d.stopOnce.Do(func() {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(d.stopWait):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
	})
}

// log is what the daemon wrote to stdout and stderr so far.
func (d *peerDaemon) log() string {
	b, _ := os.ReadFile(d.logFile)
	return string(b)
}

// startPeer runs a foreground daemon for one test (the scripts exec it,
// so the pid is the daemon's) and waits until addr accepts connections.
// Cleanup stops it with SIGTERM, then SIGKILL after 8 s: libmilter
// daemons take up to ~5 s to exit, which is why every test uses its own
// ports.
func startPeer(t *testing.T, name, addr string, wait time.Duration, argv ...string) *peerDaemon {
	t.Helper()
	d, err := startPeerDaemon(name, exec.Command(argv[0], argv[1:]...), filepath.Join(t.TempDir(), name+".out"), addr, wait, 8*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() || testing.Verbose() {
			t.Logf("%s output:\n%s", name, d.log())
		}
	})
	return d
}

// waitLogLine waits up to 30 s until log() has a line holding every one
// of want, and returns that line.
func waitLogLine(t *testing.T, name string, log func() string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
	lines:
		for _, l := range strings.Split(log(), "\n") {
			for _, w := range want {
				if !strings.Contains(l, w) {
					continue lines
				}
			}
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s log has no line with all of %q", name, want)
		}
		time.Sleep(50 * time.Millisecond) // polling the peer's log file, bounded
	}
}
