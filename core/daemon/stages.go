package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/milter"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/plugin"
	"github.com/sluice-mta/sluice/core/smtpd"
	"github.com/sluice-mta/sluice/plugins"
	"github.com/sluice-mta/sluice/plugins/route"
	"github.com/sluice-mta/sluice/plugins/spf"
	"github.com/sluice-mta/sluice/sdk"
)

// closer is a started stage that must be stopped with the daemon.
type closer interface{ Close() error }

// buildPipeline starts every configured stage in order. A stage that cannot
// start is a start-up error naming the stage; stages already started are
// stopped again.
//
// prev is the pipeline a reload replaces (nil otherwise): its plugin
// stages that the new config leaves as they were are shared, not
// restarted, and keep their counters (see sharedStage).
// buildOptions is how buildPipeline starts the stages.
type buildOptions struct {
	// stop, once done, ends the start of a plugin under way, which then
	// fails the build: a SIGTERM during a reload need not wait out a
	// plugin hung in its handshake (nil: never).
	stop   context.Context
	self   string // the sluice executable, for first-party plugins
	log    *slog.Logger
	prev   *pipelineStages // whose unchanged plugin stages are kept
	dryRun bool            // check-config, replay: see sdk.DryRun
	// mail queues what plugins send through their sdk.Mailer (the
	// daemon's; nil for check-config and replay, whose plugins get no
	// Mailer and no state directory). maxSize is [limits]
	// max_message_size.
	mail func(ctx context.Context, stage string, maxSize int64, m sdk.OutgoingMessage) (string, error)
}

func buildPipeline(c *config.Config, o buildOptions) (_ *pipelineStages, err error) {
	var stages []pipeline.StageConfig
	var started []closer
	defer func() {
		if err != nil {
			for _, s := range started {
				_ = s.Close()
			}
		}
	}()
	for i, sc := range c.Stages {
		st, cl, err := startStage(c, sc, o)
		if err != nil {
			if ce := (*sdk.ConfigError)(nil); errors.As(err, &ce) {
				// file:line of the key: stage "name": [stage.config] refused…
				return nil, c.StageConfigError(i, ce.Key(), ce.Msg)
			}
			key := "plugin"
			if sc.Milter != "" {
				key = "milter"
			}
			return nil, c.StageError(i, key, err) // file:line: stage "name": …
		}
		started = append(started, cl)
		stages = append(stages, pipeline.StageConfig{Name: sc.Name, Stage: st, Timeout: sc.Timeout.Duration,
			DataTimeout: sc.DataTimeout.Duration, OnError: sc.OnError, Listeners: sc.Listeners,
			SkipNetworks: sc.SkipNetworkPrefixes(), DryRun: sc.DryRun})
	}
	p := pipeline.New(o.log, stages...)
	p.SetDelayReject(c.DelayReject)
	if o.prev != nil {
		p.Inherit(o.prev.pipe)
	}
	ps := &pipelineStages{pipe: p, stages: started, milters: map[string]*milter.Stage{}}
	for i, sc := range c.Stages {
		if m, ok := stages[i].Stage.(*milter.Stage); ok {
			ps.milters[milterKey(c, sc)] = m
		}
	}
	return ps, nil
}

// pipelineStages is a built pipeline and its started stages.
type pipelineStages struct {
	pipe   *pipeline.Pipeline
	stages []closer
	// milters are the milter stages by milterKey: a reload that leaves
	// one as it was keeps it, and with it its /api/pipeline figures
	// (Pipeline.Inherit matches the very same Stage), as it keeps an
	// unchanged plugin's process. Closing one does nothing, so
	// successive pipelines share it without counting.
	milters map[string]*milter.Stage
}

// milterKey is what a milter stage is made of: a reload that changes a
// listener's milter_daemon_name makes a new stage, for new sessions.
func milterKey(c *config.Config, sc config.Stage) string {
	key := []string{sc.Name, sc.Milter, c.Hostname, sc.Timeout.Duration.String(),
		strconv.FormatInt(c.Limits.MaxMessageSize, 10)}
	for _, l := range c.Listeners {
		if l.MilterDaemonName != "" {
			// Quoted: a name holding "=" must not pass for another
			// listener's name and value.
			key = append(key, strconv.Quote(l.Name)+"="+strconv.Quote(l.MilterDaemonName))
		}
	}
	return strings.Join(key, "\x00")
}

// daemonNames is each listener's milter_daemon_name, for those that set one.
func daemonNames(c *config.Config) map[string]string {
	names := map[string]string{}
	for _, l := range c.Listeners {
		if l.MilterDaemonName != "" {
			names[l.Name] = l.MilterDaemonName
		}
	}
	return names
}

// shared finds a running plugin stage a reload can keep.
func (ps *pipelineStages) shared(key string) (*sharedStage, bool) {
	if ps == nil {
		return nil, false
	}
	for _, cl := range ps.stages {
		if s, ok := cl.(*sharedStage); ok && s.key == key {
			return s, true
		}
	}
	return nil, false
}

// sharedStage is a plugin process that successive pipelines share while
// reloads leave its stage as it was — the same name, command, config and
// DNS settings — as Postfix's reload leaves a milter alone: the plugin
// keeps running and its counters go on. Each pipeline holding it counts
// once; the process stops when the last of them closes it.
type sharedStage struct {
	*plugin.Process
	key  string
	refs atomic.Int32
}

// Close drops one pipeline's hold; the last stops the process.
func (s *sharedStage) Close() error {
	if s.refs.Add(-1) > 0 {
		return nil
	}
	return s.Process.Close()
}

// pluginDir is the working directory of a plugin process: the config
// file's directory, absolute, so that relative paths in [stage.config] are
// relative to the config file ("" for the embedded default: the daemon's).
func pluginDir(c *config.Config) (string, error) {
	if c.Source == "" || c.Source == "<default>" {
		return "", nil
	}
	return filepath.Abs(filepath.Dir(c.Source))
}

func startStage(c *config.Config, sc config.Stage, o buildOptions) (pipeline.Stage, closer, error) {
	if sc.Milter != "" {
		// A milter is dialled per SMTP session, not at start: it may come
		// up after us. Its timeout also bounds the dial in Open.
		if o.prev != nil {
			if m, ok := o.prev.milters[milterKey(c, sc)]; ok {
				return m, m, nil
			}
		}
		// A body the milter replaces is bounded as the client's is, as
		// Postfix's cleanup bounds it by message_size_limit.
		m, err := milter.New(milter.Options{Name: sc.Name, Addr: sc.Milter, Hostname: c.Hostname, DaemonNames: daemonNames(c),
			Timeout: sc.Timeout.Duration, Logger: o.log, MaxBody: c.Limits.MaxMessageSize})
		if err != nil {
			return nil, nil, err
		}
		return m, m, nil
	}
	cfg := sc.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	cmd, err := pluginCommand(c, sc.Plugin, o.self)
	if err != nil {
		return nil, nil, err
	}
	env := pluginEnv(c, o.dryRun)
	dir, err := pluginDir(c)
	if err != nil {
		return nil, nil, err
	}
	// What the process was started with: a stage kept across a reload
	// must not keep an old environment or body limit (max_message_size).
	key := strings.Join([]string{sc.Name, strings.Join(cmd, " "), string(js), strings.Join(env, " "), dir,
		strconv.FormatInt(c.Limits.MaxMessageSize, 10), exeStamp(!strings.Contains(sc.Plugin, "/"), cmd[0])}, "\x00")
	if s, ok := o.prev.shared(key); ok {
		s.refs.Add(1)
		return s, s, nil
	}
	var mail sdk.MailHandler
	var stateDir string
	if o.mail != nil && !o.dryRun {
		// The key holds max_message_size: a reload that changes it
		// starts a new process, with a handler of the new limit.
		maxSize := c.Limits.MaxMessageSize
		mail = func(ctx context.Context, stage string, m sdk.OutgoingMessage) (string, error) {
			return o.mail(ctx, stage, maxSize, m)
		}
		if stateDir, err = makeStateDir(c.Resolve(c.DataDir), sc.Name); err != nil {
			return nil, nil, err
		}
	}
	p, err := plugin.Start(plugin.Options{Stage: sc.Name, Command: cmd, ConfigJSON: js, Logger: o.log, Env: env, Dir: dir,
		MaxBody: c.Limits.MaxMessageSize, Cancel: o.stop, Mail: mail, StateDir: stateDir})
	if err != nil {
		return nil, nil, handshakeError(cmd, err)
	}
	if !o.dryRun && len(p.Info().Hooks) == 0 {
		// check-config says so too; an author who went straight to
		// serve must not have to guess why the stage never runs.
		o.log.Warn("plugin declares no hooks", "stage", sc.Name, "warning", noHooksWarning(sc))
	}
	s := &sharedStage{Process: p, key: key}
	s.refs.Store(1)
	return s, s, nil
}

// pluginEnv is what the core tells a plugin process through its
// environment, besides go-plugin's own.
func pluginEnv(c *config.Config, dryRun bool) []string {
	var env []string
	if len(c.DNS.Servers) > 0 {
		// Every DNS question a first-party plugin asks goes to [dns].
		env = dnsresolve.Env(c.DNS.Servers, c.DNS.Timeout.Duration)
	}
	if c.Hostname != "" {
		// The name Authentication-Results carries, for the spf stage's
		// Received-SPF receiver= and %{r}.
		env = append(env, spf.EnvHostname+"="+c.Hostname)
	}
	// The route stage's SRS domain must be one of local_domains, and
	// mail from them is never rewritten. Set when empty too: the stage
	// then knows it runs under a Sluice that has none.
	env = append(env, route.EnvLocalDomains+"="+strings.Join(c.LocalDomains, ","))
	if c.Delivery.CAFile != "" {
		// The route stage's probes verify a tls=verify server against
		// the roots delivery uses (delivery.Probe). Absolute: the plugin
		// runs in another directory.
		f, err := filepath.Abs(c.Resolve(c.Delivery.CAFile))
		if err == nil {
			env = append(env, delivery.EnvCAFile+"="+f)
		}
	}
	if f := c.Delivery.AddressFamily; f != "" && f != config.FamilyAny {
		// The route stage's probes of smtp: routes dial the family
		// delivery dials ([delivery] address_family).
		env = append(env, delivery.EnvAddressFamily+"="+f)
	}
	if dryRun {
		// check-config and replay run beside the daemon's own processes:
		// a plugin's state files are theirs (sdk.DryRun).
		env = append(env, sdk.EnvDryRun+"=1")
	}
	return env
}

// handshakeError shortens go-plugin's answer to a command that is not a
// Sluice plugin at all (/bin/true, a script): "Unrecognized remote plugin
// message" and fourteen lines of advice for plugin developers, or, when
// the command exited first, "plugin exited before we could connect". It
// becomes one line for check-config, the reload log and `sluice reload`;
// a real plugin's crash at start is in its stderr, which the daemon logs.
func handshakeError(cmd []string, err error) error {
	msg := err.Error()
	const unrecognized = "Unrecognized remote plugin message: "
	if i := strings.Index(msg, unrecognized); i >= 0 {
		// go-plugin quotes the first line the process printed on stdout.
		// A plugin that prints before sdk.Serve (a banner, a debug line)
		// is the usual cause: name the line, so its author can find it.
		line, _, _ := strings.Cut(msg[i+len(unrecognized):], "\n")
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 80 {
				line = line[:80] + "…"
			}
			return fmt.Errorf("plugin %s: not a Sluice plugin (it did not answer the plugin handshake: it printed %q on stdout, where the handshake goes; before sdk.Serve, write to stderr only)",
				strings.Join(cmd, " "), line)
		}
	}
	const incompatible = "incompatible API version with plugin. Plugin version: "
	if i := strings.Index(msg, incompatible); i >= 0 {
		// go-plugin's words for a plugin built with an SDK of another
		// protocol version (sdk.ProtocolVersion).
		var v int
		if _, err := fmt.Sscanf(msg[i+len(incompatible):], "%d", &v); err == nil {
			return fmt.Errorf("plugin %s: speaks Sluice plugin protocol %d, this Sluice speaks %d: rebuild it with this Sluice's SDK, or run the Sluice it was built for",
				strings.Join(cmd, " "), v, sdk.ProtocolVersion)
		}
	}
	if strings.Contains(msg, "Unrecognized remote plugin message") || strings.Contains(msg, "plugin exited before we could connect") {
		return fmt.Errorf("plugin %s: not a Sluice plugin (it did not answer the plugin handshake)", strings.Join(cmd, " "))
	}
	return err
}

// checkFiles reads the files the config names for the SMTP server, as
// smtpd does at start, so that a bad one is reported at the line of the
// key naming it rather than with the config file's name alone.
func checkFiles(c *config.Config) error {
	if err := smtpd.CheckCerts(c); err != nil {
		return err
	}
	if f := c.Auth.SendersFile; f != "" {
		if err := auth.NewSenders(nil).LoadSendersFile(c.Resolve(f)); err != nil {
			return c.KeyError("auth", -1, "senders_file", fmt.Errorf("senders_file: %w", err))
		}
	}
	if f := c.Auth.UsersFile; f != "" {
		if _, err := auth.LoadUsers(c.Resolve(f)); err != nil {
			return c.KeyError("auth", -1, "users_file", fmt.Errorf("users_file: %w", err))
		}
	}
	return nil
}

// Check does what Start does with c short of opening the queue and
// binding sockets, so that a config `sluice check-config` passes does not
// fail at start: the DNS settings, data_dir (checkDataDir), the listeners' limits, auth files and
// TLS certificates, the delivery options, and every plugin stage, started
// with its config (a plugin refusing its [stage.config] is caught here)
// and stopped again. Milters are not dialled: they may come up after us.
//
// It returns what the stages declared, and warnings about what is valid
// but probably not meant.
func Check(c *config.Config, self string) (*CheckResult, error) {
	if _, err := dnsresolve.New(c.DNS.Servers, c.DNS.Timeout.Duration); err != nil {
		return nil, c.KeyError("dns", -1, "servers", fmt.Errorf("dns: %w", err))
	}
	if err := checkFiles(c); err != nil {
		return nil, err
	}
	if err := checkDataDir(c); err != nil {
		return nil, err
	}
	if err := smtpd.Check(c); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Source, err)
	}
	if _, err := deliveryOptions(c); err != nil {
		if ce := (*config.Error)(nil); errors.As(err, &ce) {
			return nil, err // positioned already (relay, bounce_template)
		}
		return nil, c.KeyError("delivery", -1, "ca_file", err)
	}
	ps, err := buildPipeline(c, buildOptions{self: self, log: slog.New(slog.DiscardHandler), dryRun: true})
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Warnings: append(softBounceWarnings(c), authWarnings(c, ps.pipe)...), Hooks: make([][]sdk.Hook, len(c.Stages))}
	for i, s := range ps.stages {
		if p, ok := s.(*sharedStage); ok {
			res.Hooks[i] = p.Info().Hooks
			if len(res.Hooks[i]) == 0 {
				res.Hooks[i] = []sdk.Hook{}
				res.Warnings = append(res.Warnings, noHooksWarning(c.Stages[i]))
			}
		}
		_ = s.Close()
	}
	res.Warnings = append(res.Warnings, policyTimeWarnings(c)...)
	res.Warnings = append(res.Warnings, daneResolverWarnings(c)...)
	return res, nil
}

// CheckResult is what Check found besides errors.
type CheckResult struct {
	// Warnings are about what is valid but probably not meant.
	Warnings []string
	// Hooks are the hooks each [[stage]], in order, declared at start:
	// nil for a milter (it negotiates its steps per connection), empty for
	// a plugin that declared none.
	Hooks [][]sdk.Hook
}

// noHooksWarning is the warning for a plugin stage that declared no hook:
// it is never called. With the Go SDK that is almost always a mistake: a
// hook method whose signature is not the interface's, or methods on a
// pointer receiver while main serves the value (sdk.Serve(T{}) instead of
// sdk.Serve(&T{})).
func noHooksWarning(sc config.Stage) string {
	return fmt.Sprintf("stage %s: plugin %s declares no hooks, so it is never called "+
		"(with the Go SDK: is a hook method's signature the interface's, e.g. sdk.DataHook's? "+
		"methods on *T need sdk.Serve(&T{}), not sdk.Serve(T{}))", sc.Name, sc.Plugin)
}

// configWarnings are the warnings about c the daemon logs at start and
// at each reload, p its pipeline: those Check gives but for the stages'
// declared hooks (a plugin's start logs its own).
func configWarnings(c *config.Config, p *pipeline.Pipeline) []string {
	return slices.Concat(softBounceWarnings(c), authWarnings(c, p), policyTimeWarnings(c), daneResolverWarnings(c))
}

// authWarnings names the listeners that require AUTH while nothing can
// authenticate anyone there: no [auth] users_file or dovecot_socket and
// no stage serving the listener with an auth hook (one whose listeners
// leave it out is never asked there; one in dry run decides nothing).
// Such a listener refuses every client's mail; that may be meant (a port
// kept closed), so it is a warning, not an error.
func authWarnings(c *config.Config, p *pipeline.Pipeline) []string {
	if c.Auth.UsersFile != "" || c.Auth.DovecotSocket != "" {
		return nil
	}
	var out []string
	for _, l := range c.Listeners {
		if (l.Kind == config.KindSubmission || l.Kind == config.KindSubmissions) && !p.ChecksAuthFor(l.Name) {
			out = append(out, fmt.Sprintf("listener %s (%s) requires AUTH, but there is no [auth] users_file or dovecot_socket and no stage serving it declares the auth hook out of dry run: no client can send mail through it", l.Name, l.Kind))
		}
	}
	return out
}

// pluginCommand resolves a stage's plugin: a bare name is first-party and
// runs as `sluice plugin serve NAME`; anything with a slash is an
// executable path (relative to the config file).
func pluginCommand(c *config.Config, name, self string) ([]string, error) {
	if !strings.Contains(name, "/") {
		if _, ok := plugins.Lookup(name); !ok {
			return nil, fmt.Errorf("no first-party plugin %q (have: %s; a path to an executable needs a slash, e.g. ./%s)",
				name, strings.Join(plugins.Names(), ", "), name)
		}
		exe, err := absExe(self)
		return []string{exe, "plugin", "serve", name}, err
	}
	path, err := absExe(c.Resolve(name))
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not an executable file", path)
	}
	return []string{path}, nil
}

// absExe makes an executable's path absolute, as a plugin process runs in
// the config file's directory (pluginDir), which would resolve a relative
// one again; a bare name (looked up in PATH) stays as it is.
func absExe(exe string) (string, error) {
	if !strings.ContainsRune(exe, filepath.Separator) {
		return exe, nil
	}
	return filepath.Abs(exe)
}
