package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveProc is a `sluice serve` child process whose log lines the test
// reads (and, with -v, logs).
type serveProc struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{} // closed at its exit
	err   error         // the exit status, once done
}

// startServe runs `sluice serve -c cfg` and waits for its "sluice
// started" line.
func startServe(t *testing.T, cfg string) *serveProc {
	t.Helper()
	p := launchServe(t, cfg)
	p.waitLine(t, "sluice started")
	return p
}

// launchServe runs `sluice serve -c cfg`; the test's end kills it.
func launchServe(t *testing.T, cfg string) *serveProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "-c", cfg)
	cmd.Env = append(os.Environ(), "SLUICE_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if testing.Verbose() {
				t.Log("sluice: " + sc.Text())
			}
			select {
			case p.lines <- sc.Text():
			default: // nobody waits for these
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill) // and waits, so that the reader has stopped logging
	return p
}

// kill ends the process with SIGKILL (as a crash would) and waits for it.
func (p *serveProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// waitLine waits for a log line containing s.
func (p *serveProc) waitLine(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-p.done:
			// Lines it wrote before exiting may still be waiting.
			for {
				select {
				case l := <-p.lines:
					if strings.Contains(l, s) {
						return
					}
					continue
				default:
				}
				break
			}
			t.Fatalf("sluice exited (%v) before logging %q", p.err, s)
		case <-timeout:
			t.Fatalf("no log line %q", s)
		}
	}
}

// wait returns the exit status, or fails the test after d.
func (p *serveProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("sluice still running %v after SIGTERM", d)
		return nil
	}
}
