package plugin

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"github.com/hashicorp/go-plugin/runner"
)

// cmdRunner runs a plugin's command for go-plugin, as go-plugin's own
// runner does (internal to it, so not ours to use). go-plugin uses its
// socket directory, the one it hands the plugin (PLUGIN_UNIX_SOCKET_DIR),
// for the core's broker listeners only when a RunnerFunc starts the
// process; without one they went to the shared temporary directory, where
// a plugin that died while one was being announced left its socket file.
type cmdRunner struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
	pid            int

	// mu orders Kill's killGroup before Wait's reaping of the process:
	// once reaped, its pid (the group's id) may name another process.
	mu      sync.Mutex
	reaping bool
	killed  bool  // Kill sent SIGKILL
	exit    error // what Wait returned, once it has
	waited  bool
}

// newCmdRunner runs cmd with spec's environment added: spec is the
// command go-plugin made (its handshake cookie, socket directory), whose
// variables come last, as they did when go-plugin ran cmd itself.
func newCmdRunner(cmd, spec *exec.Cmd) (*cmdRunner, error) {
	cmd.Env = append(cmd.Env, spec.Env...)
	cmd.Stdin = spec.Stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &cmdRunner{cmd: cmd, stdout: stdout, stderr: stderr}, nil
}

func (r *cmdRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.pid = r.cmd.Process.Pid
	return nil
}

// Wait reaps the process. go-plugin calls it once the process's stdout and
// stderr have closed.
func (r *cmdRunner) Wait(context.Context) error {
	r.mu.Lock()
	r.reaping = true
	r.mu.Unlock()
	err := r.cmd.Wait()
	r.mu.Lock()
	r.exit, r.waited = err, true
	r.mu.Unlock()
	return err
}

// exitedAlone describes how the process ended ("exit status 3", "signal:
// segmentation fault"), or returns "" when it has not been reaped or
// ended by Kill's SIGKILL: a plugin that died during Configure is then
// named as such, not by the gRPC error its closed connection gave. Called
// once go-plugin's Kill has returned, which waits for Wait.
func (r *cmdRunner) exitedAlone() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.waited {
		return ""
	}
	var ee *exec.ExitError
	if r.exit == nil {
		return "exit status 0"
	}
	if !errors.As(r.exit, &ee) {
		return ""
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && r.killed && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return "" // ours, or one we cannot tell from ours
	}
	return ee.Error()
}

func (r *cmdRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	// The whole group (see ownGroup), while its leader is unreaped: a
	// process the plugin started that still holds its output would
	// otherwise keep go-plugin waiting for it.
	r.mu.Lock()
	if !r.reaping {
		killGroup(r.pid)
	}
	r.killed = true
	r.mu.Unlock()
	// go-plugin kills a process more than once.
	if err := r.cmd.Process.Kill(); !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *cmdRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *cmdRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *cmdRunner) Name() string          { return r.cmd.Path }
func (r *cmdRunner) ID() string            { return strconv.Itoa(r.pid) }

func (r *cmdRunner) Diagnose(context.Context) string {
	return "This usually means the command is not a Sluice plugin (built for another architecture, missing a library, not executable) or it failed before its handshake."
}

// The plugin runs on this host: its addresses are the core's.
func (*cmdRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (*cmdRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

var _ runner.Runner = (*cmdRunner)(nil)
