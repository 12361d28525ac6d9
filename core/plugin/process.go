// Package plugin runs out-of-process plugin stages: it starts each plugin
// executable with hashicorp/go-plugin, initialises it, serves every SMTP
// session from that one process, and restarts it with backoff when it dies.
// It is the only core package that imports go-plugin.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// Options describe one plugin stage's process.
type Options struct {
	Stage      string   // [[stage]] name
	Command    []string // argv: the executable and its arguments
	ConfigJSON []byte   // [stage.config] as JSON
	// Env is added to the plugin's environment (e.g. the core's [dns]
	// servers for first-party plugins, see dnsresolve.Env).
	Env []string
	// Dir is the process's working directory ("" the daemon's): the
	// config file's, so that a relative path in [stage.config] (a
	// greylist state_dir, a recipients_file) is relative to the config
	// file, as every path in it is.
	Dir    string
	Logger *slog.Logger
	// StartTimeout bounds the handshake and, again, Init (the plugin's
	// Configure). Zero: DefaultStartTimeout.
	StartTimeout time.Duration
	// Backoff bounds restarts: the first waits MinBackoff, doubling to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxBody is the largest body the plugin may replace a message's
	// with (the listeners' max_message_size); a larger one fails the
	// call with sdk.ErrBodyTooLarge. Zero: sdk.DefaultMaxBody.
	MaxBody int64
	// Mail queues what the plugin sends through its sdk.Mailer, served
	// to every process of the stage, restarts included; nil gives the
	// plugin none (check-config, replay: Send fails with
	// sdk.ErrNoMailer).
	Mail sdk.MailHandler
	// StateDir is the plugin's sdk.Config.StateDir ("" none), which the
	// caller creates.
	StateDir string
	// Cancel, once done while Start runs, ends the start: the process is
	// killed and Start fails. It is not watched after Start returns (a
	// SIGTERM during a reload need not wait out a plugin hung in its
	// handshake, up to twice StartTimeout). Nil: never.
	Cancel context.Context

	// checkEvery is how often the supervisor looks whether the process
	// is alive when no call failed (tests lengthen it). Zero: a second.
	checkEvery time.Duration
}

// After a failed call the supervisor looks whether the process died every
// exitCheckEvery, exitChecks times: the call's connection ends as the
// process does, a moment before go-plugin has reaped it, so at the
// failure itself it still looks alive. At the look numbered pingAfter
// (counting down), a process still alive must answer a health check.
const (
	exitCheckEvery = 10 * time.Millisecond
	exitChecks     = 100
	pingAfter      = exitChecks - 10
)

// DefaultStartTimeout is how long a plugin has to answer the handshake,
// and then to finish Init (its Configure), at start and at each restart.
const DefaultStartTimeout = 20 * time.Second

// Process is a supervised plugin process; it implements pipeline.Stage.
type Process struct {
	opt Options
	log *slog.Logger

	mu       sync.RWMutex
	client   *goplugin.Client
	proto    goplugin.ClientProtocol // client's connection, for reachable
	rpc      *sdk.Client
	info     sdk.Info
	state    string
	restarts int
	started  time.Time // when the running process finished starting
	sockDir  string    // the running process's socket directory (launch)

	// outLimit bounds the lines of the plugin's output that are logged
	// (see stderrLog), across its restarts.
	outLimit *lineLimit

	restartCh chan struct{}
	done      chan struct{}
	// stopping ends when Close begins: it kills a process still starting
	// and ends its Init, so that Close does not wait out StartTimeout.
	stopping  context.Context
	stop      context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Start runs the plugin and initialises it. A plugin that cannot start or
// refuses its config is an error: the daemon does not start without it.
func Start(opt Options) (*Process, error) {
	if len(opt.Command) == 0 {
		return nil, errors.New("plugin: empty command")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.StartTimeout == 0 {
		opt.StartTimeout = DefaultStartTimeout
	}
	if opt.MinBackoff == 0 {
		opt.MinBackoff = 100 * time.Millisecond
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 10 * time.Second
	}
	if opt.checkEvery == 0 {
		opt.checkEvery = time.Second
	}
	p := &Process{opt: opt, log: opt.Logger.With("stage", opt.Stage), state: "starting",
		outLimit: newLineLimit(), restartCh: make(chan struct{}, 1), done: make(chan struct{})}
	p.stopping, p.stop = context.WithCancel(context.Background())
	unwatch := func() bool { return true }
	if opt.Cancel != nil {
		unwatch = context.AfterFunc(opt.Cancel, p.stop)
	}
	err := p.launch()
	if !unwatch() && err == nil {
		// Cancelled as the launch succeeded: stop what it started.
		_ = p.Close()
		err = errStoppedStarting
	}
	if err != nil {
		p.stop()
		// The caller names the stage.
		return nil, fmt.Errorf("plugin %s: %w", strings.Join(opt.Command, " "), err)
	}
	p.wg.Add(1)
	go p.supervise()
	return p, nil
}

// errStoppedStarting: Close or Options.Cancel ended a start under way.
var errStoppedStarting = errors.New("plugin stopped while starting")

// launch starts one process and runs Init; on success it becomes current.
func (p *Process) launch() error {
	// The process is killed when Close begins while it is still starting
	// (its handshake, Init), which go-plugin would otherwise wait out.
	// Once launch has returned, Close stops it the graceful way (kill:
	// go-plugin asks it to exit, and kills it only if it does not); the
	// context must then no longer reach it.
	starting, cancelStart := context.WithCancel(context.Background())
	defer context.AfterFunc(p.stopping, cancelStart)()
	cmd := exec.CommandContext(starting, p.opt.Command[0], p.opt.Command[1:]...)
	cmd.Dir = p.opt.Dir
	dieWithParent(cmd)
	ownGroup(cmd)
	// sdk.ClientConfig also hands the process a direct channel, the fast
	// path for plugins that support it.
	// go-plugin's sockets, the plugin's gRPC one and the core's broker
	// listeners (the Host service), go in a directory of this process's
	// own, removed with it: a plugin that dies without closing its
	// listener (killed, crashed), or while the core announces one, leaves
	// a socket file behind, which in the shared temporary directory
	// nobody would ever remove. go-plugin makes that directory, hands it
	// to the plugin (PLUGIN_UNIX_SOCKET_DIR) and listens in it only when
	// a RunnerFunc starts the process (cmdRunner), which records it here
	// for kill: go-plugin's Kill removes it only once the process ran.
	var sockDir string
	var run *cmdRunner
	// The environment, in order of precedence (exec keeps the last value
	// of a key given twice): the daemon's, the stage's, go-plugin's (the
	// socket directory among them). go-plugin is kept from adding the
	// daemon's again (SkipHostEnv), which would have overridden the
	// stage's and the socket directory.
	cmd.Env = append(os.Environ(), p.opt.Env...)
	cfg := sdk.ClientConfig(cmd)
	cfg.Cmd = nil // RunnerFunc starts it
	cfg.RunnerFunc = func(_ hclog.Logger, spec *exec.Cmd, dir string) (runner.Runner, error) {
		sockDir = dir
		r, err := newCmdRunner(cmd, spec)
		run = r
		return r, err
	}
	cfg.SkipHostEnv = true
	cfg.StartTimeout = p.opt.StartTimeout
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin." + p.opt.Stage, Output: io.Discard, Level: hclog.Error})
	cfg.Stderr = &stderrLog{log: p.log, limit: p.outLimit}
	// Once sdk.Serve runs, go-plugin sends the plugin's os.Stdout and
	// os.Stderr here rather than to its files: without these, a plugin's
	// fmt.Println or fmt.Fprintln(os.Stderr, …) would be lost.
	cfg.SyncStdout = &stderrLog{log: p.log, msg: "plugin stdout", limit: p.outLimit}
	cfg.SyncStderr = &stderrLog{log: p.log, msg: "plugin stderr", level: slog.LevelWarn, limit: p.outLimit}
	client := goplugin.NewClient(cfg)
	proto, err := client.Client()
	if err != nil {
		kill(client, sockDir)
		if p.stopping.Err() != nil {
			return errStoppedStarting // killed by it: no fault of the plugin
		}
		if strings.Contains(err.Error(), "timeout while waiting for plugin to start") {
			return fmt.Errorf("plugin did not finish starting (handshake) within %s", p.opt.StartTimeout)
		}
		return err
	}
	raw, err := proto.Dispense(sdk.PluginKey)
	if err != nil {
		kill(client, sockDir)
		return err
	}
	rpc, ok := raw.(*sdk.Client)
	if !ok {
		kill(client, sockDir)
		return fmt.Errorf("plugin dispensed %T, not *sdk.Client", raw)
	}
	rpc.SetMaxBody(p.opt.MaxBody)
	if p.opt.Mail != nil {
		rpc.SetMailHandler(p.opt.Mail)
	}
	rpc.SetStateDir(p.opt.StateDir)
	rpc.SetLogger(p.log)
	ctx, cancel := context.WithTimeout(p.stopping, p.opt.StartTimeout)
	defer cancel()
	info, err := rpc.Init(ctx, p.opt.Stage, p.opt.ConfigJSON)
	if err != nil {
		rpc.Close()
		kill(client, sockDir)
		if p.stopping.Err() != nil {
			return errStoppedStarting
		}
		if ctx.Err() != nil {
			// gRPC's "DeadlineExceeded desc = context deadline exceeded"
			// does not say which deadline.
			return fmt.Errorf("plugin did not finish starting (Configure) within %s", p.opt.StartTimeout)
		}
		if exit := run.exitedAlone(); exit != "" && status.Code(err) == codes.Unavailable {
			// gRPC's "Unavailable desc = error reading from server: EOF"
			// does not say that the process is gone, nor how. Only
			// then: a plugin that refused its config (a ConfigError)
			// may exit as soon as it has said so, and its answer is
			// the error to show.
			return fmt.Errorf("plugin exited during Configure (%s)", exit)
		}
		return err
	}
	p.mu.Lock()
	p.client, p.proto, p.rpc, p.info, p.state, p.started, p.sockDir = client, proto, rpc, info, "running", time.Now(), sockDir
	p.mu.Unlock()
	attrs := []any{"command", strings.Join(p.opt.Command, " ")}
	if info.Name != "" { // a plugin that says who it is (sdk.Describer)
		attrs = append(attrs, "plugin", info.Name, "version", info.Version)
	}
	p.log.Info("plugin running", append(attrs, "hooks", fmt.Sprint(info.Hooks), "transport", rpc.Transport())...)
	return nil
}

// supervise restarts the process when it dies, with exponential backoff.
// It looks every checkEvery, and, after a failed call (restartCh), every
// exitCheckEvery for a while: a plugin that crashed on a call is restarted
// after its backoff, not at the next look, up to a second later, during
// which every message got the stage's on_error.
func (p *Process) supervise() {
	defer p.wg.Done()
	tick := time.NewTicker(p.opt.checkEvery)
	defer tick.Stop()
	b := restartBackoff{min: p.opt.MinBackoff, max: p.opt.MaxBackoff}
	var soon <-chan time.Time
	checks := 0
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		case <-p.restartCh:
			// A countdown already running goes on: one that every failed
			// call started again would never reach its health check
			// while mail keeps failing a call a millisecond.
			if checks == 0 {
				checks = exitChecks
			}
		case <-soon:
		}
		soon = nil
		p.mu.RLock()
		c, proto, started, sockDir := p.client, p.proto, p.started, p.sockDir
		p.mu.RUnlock()
		dead := c == nil || c.Exited()
		if !dead && checks == pingAfter {
			// A call failed and the process still lives: one that can
			// no longer be reached (it closed its sockets) would
			// otherwise fail every call for as long as it lives.
			if err := p.reachable(proto); err != nil && p.stopping.Err() == nil {
				p.log.Warn("plugin unreachable", "err", err)
				dead = true
			}
		}
		if !dead {
			if checks > 0 {
				checks--
				soon = time.After(exitCheckEvery)
			}
			continue
		}
		checks = 0
		p.mu.Lock()
		old := p.rpc
		p.state, p.rpc = "restarting", nil
		p.mu.Unlock()
		if old != nil {
			old.Close() // the dead process's sockets
		}
		wait := b.died(time.Since(started))
		for {
			if c != nil {
				kill(c, sockDir)
			}
			p.log.Warn("plugin died, restarting", "backoff", wait)
			select {
			case <-p.done:
				return
			case <-time.After(wait):
			}
			// Counted before the launch makes the new process answer:
			// whoever sees it answer sees the restart counted.
			p.mu.Lock()
			p.restarts++
			p.mu.Unlock()
			err := p.launch()
			if err == nil {
				break
			}
			if p.stopping.Err() != nil {
				return // Close killed it while it started
			}
			p.log.Error("plugin restart failed", "err", err)
			wait = b.next()
			c = nil
		}
	}
}

// reachable asks the process's gRPC server whether it serves (go-plugin's
// health check), within StartTimeout: the direct channel and the Channel
// stream fall back on it, so a process that fails it can serve no call.
func (p *Process) reachable(proto goplugin.ClientProtocol) error {
	gc, ok := proto.(*goplugin.GRPCClient)
	if !ok || gc.Conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(p.stopping, p.opt.StartTimeout)
	defer cancel()
	_, err := healthpb.NewHealthClient(gc.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: goplugin.GRPCServiceName})
	return err
}

// kill stops a plugin process and removes its socket directory.
func kill(c *goplugin.Client, sockDir string) {
	c.Kill()
	_ = os.RemoveAll(sockDir)
}

// restartBackoff is how long a dead plugin waits before its restart. A
// process that ran for max or longer before it died is restarted after min;
// one that died sooner (a plugin that crashes on every call, say) waits
// twice as long as the last time, up to max, instead of being restarted
// ten times a second for as long as mail keeps coming — as a supervisor's
// restart intensity limit does (systemd's StartLimitIntervalSec, Erlang's
// max restart intensity).
type restartBackoff struct {
	min, max time.Duration
	last     time.Duration // the last wait; 0 before the first
}

// died returns the wait before restarting a process that lived for lived.
func (b *restartBackoff) died(lived time.Duration) time.Duration {
	if b.last == 0 || lived >= b.max {
		b.last = b.min
		return b.last
	}
	return b.next()
}

// next returns the wait before another try after a restart that failed,
// or a process that died soon after its restart.
func (b *restartBackoff) next() time.Duration {
	b.last = min(max(b.last*2, b.min), b.max)
	return b.last
}

// current returns the live RPC client, or nil while the plugin is down.
func (p *Process) current() (*sdk.Client, sdk.Info) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.rpc, p.info
}

// failed is told of an RPC error: the supervisor looks whether the
// process died, now and shortly after (see supervise).
func (p *Process) failed() {
	select {
	case p.restartCh <- struct{}{}:
	default:
	}
}

// Kind implements pipeline.Stage.
func (p *Process) Kind() string { return "plugin" }

// Health implements pipeline.Stage.
func (p *Process) Health() (string, int) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state, p.restarts
}

// Info returns what the plugin declared at Init.
func (p *Process) Info() sdk.Info {
	_, info := p.current()
	return info
}

// Open implements pipeline.Stage: plugins share one process, so a session
// is just a view of it.
func (p *Process) Open(context.Context, *sdk.Session) (pipeline.Conn, error) {
	return conn{p}, nil
}

// Close stops supervision and the process.
func (p *Process) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.stop()
		p.wg.Wait()
		p.mu.Lock()
		if p.rpc != nil {
			p.rpc.Close()
		}
		if p.client != nil {
			kill(p.client, p.sockDir)
		}
		p.state, p.rpc = "stopped", nil
		p.mu.Unlock()
	})
	return nil
}

// conn is a session's view of the process.
type conn struct{ p *Process }

func (c conn) Wants(h sdk.Hook) bool { return c.p.Declares(h) }

func (c conn) NeedsBody() bool {
	_, info := c.p.current()
	return info.NeedsBody
}

func (c conn) Hook(ctx context.Context, h sdk.Hook, t *sdk.Txn, rcpt *sdk.Recipient) (sdk.Verdict, error) {
	rpc, _ := c.p.current()
	if rpc == nil {
		return sdk.Verdict{}, pipeline.ErrStageDown
	}
	v, err := rpc.Hook(ctx, h, t, rcpt, nil)
	if err != nil {
		c.p.failed()
	}
	return v, err
}

// Hooks runs several envelope hooks in one round trip when the plugin
// serves hook batches (sdk.Client.Hooks runs them one at a time when not).
func (c conn) Hooks(ctx context.Context, calls []sdk.HookCall) ([]sdk.Verdict, error) {
	rpc, _ := c.p.current()
	if rpc == nil {
		return nil, pipeline.ErrStageDown
	}
	vs, err := rpc.Hooks(ctx, calls)
	if err != nil {
		c.p.failed()
	}
	return vs, err
}

// HookEach runs hooks that do not depend on one another (deliver hooks of
// many recipients) in one round trip when the plugin serves independent
// batches (sdk.Client.HookEach sends them one at a time, at once, when
// not).
func (c conn) HookEach(ctx context.Context, calls []sdk.HookCall) ([]sdk.Verdict, []error, error) {
	rpc, _ := c.p.current()
	if rpc == nil {
		return nil, nil, pipeline.ErrStageDown
	}
	vs, errs, err := rpc.HookEach(ctx, calls)
	if err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		c.p.failed() // restarts the plugin at once if it has exited
	}
	return vs, errs, err
}

func (c conn) Data(ctx context.Context, h sdk.Hook, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	rpc, info := c.p.current()
	if rpc == nil {
		return sdk.Verdict{}, pipeline.ErrStageDown
	}
	v, err := rpc.Data(ctx, h, t, m, info.NeedsBody)
	if err != nil {
		c.p.failed()
	}
	return v, err
}

// Outcome tells the plugin what became of a message's recipients.
func (c conn) Outcome(ctx context.Context, t *sdk.Txn, o sdk.Outcome) error {
	rpc, _ := c.p.current()
	if rpc == nil {
		return pipeline.ErrStageDown
	}
	err := rpc.Outcome(ctx, t, o)
	if err != nil {
		c.p.failed()
	}
	return err
}

func (conn) Reset(context.Context) {}
func (conn) Close() error          { return nil }

var (
	_ pipeline.Stage       = (*Process)(nil)
	_ pipeline.BatchConn   = conn{}
	_ pipeline.EachConn    = conn{}
	_ pipeline.OutcomeConn = conn{}
)
