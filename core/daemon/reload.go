package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/smtpd"
)

// Reload applies a new configuration to the running daemon: the pipeline
// (order, new and removed stages, their settings) and the listeners. The
// new stages are started before anything changes; if one cannot start, or
// a new listener cannot be bound, the error is returned and the running
// configuration stays as it was. Sessions already open finish on the
// pipeline they began with, whose stages stop when the last of them ends;
// listeners that are unchanged keep their sockets, removed ones stop
// accepting and let their sessions finish. local_domains, relay_networks,
// [limits] (but for one, see smtpd.SetLimits), [auth], soft_bounce and
// the log level apply at once, in open sessions too; a changed [dns]
// restarts the plugins and makes a new delivery agent. A changed
// [delivery] or soft_bounce starts a new delivery agent; the one before finishes the
// attempts it has in flight. Other settings are logged as needing a
// restart.
func (d *Daemon) Reload(c *config.Config) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if err := d.reload(c); err != nil {
		d.log.Error("reload refused; the running config stays", "source", c.Source, "err", err)
		return err
	}
	return nil
}

// ReloadFile reads the daemon's config file again (Options.ConfigPath;
// the embedded default without one) and applies it with Reload. A file
// that does not validate is refused with its file:line error.
func (d *Daemon) ReloadFile() error {
	var (
		c   *config.Config
		err error
	)
	if d.opt.ConfigPath == "" {
		c = config.Default()
	} else if c, err = config.Load(d.opt.ConfigPath); err != nil {
		d.log.Error("reload refused: the config does not validate; the running one stays", "err", err)
		return err
	}
	return d.Reload(c)
}

func (d *Daemon) reload(c *config.Config) error {
	if d.stopped {
		return errNotRunning
	}
	// What a reload does not apply runs as the daemon started with it,
	// whatever the files read since said: the pipeline's authserv-id
	// follows the listeners' hostname, and the restart warning compares
	// with these settings, so that reverting a change silences it and
	// reloading twice repeats it.
	running := d.opt.Config
	// The stages too: plugins get the hostname in their environment, and
	// milters as macro j. Built from the new file's, a changed hostname
	// restarted every plugin with it while Received and
	// Authentication-Results kept the old one. [dns] is applied: a plugin
	// whose DNS servers change is restarted with them (they are part of
	// what keeps a stage), and delivery gets a new agent.
	built := *c
	built.Hostname = running.Hostname
	// The files [auth] and the listeners name, first: one that does not
	// load refuses the reload at its key's line, as at start.
	if err := checkFiles(c); err != nil {
		return err
	}
	// A changed [delivery] gets a new agent, made before anything
	// changes: a relay's authfile or a ca_file that does not load refuses
	// the reload.
	res := d.resolver
	dnsChanged := !reflect.DeepEqual(d.cfg.DNS, c.DNS)
	if dnsChanged {
		var err error
		if res, err = dnsresolve.New(c.DNS.Servers, c.DNS.Timeout.Duration); err != nil {
			return c.KeyError("dns", -1, "servers", fmt.Errorf("dns: %w", err))
		}
	}
	var dopt *delivery.Options
	// A renewed CA bundle under the same name counts as a change, as a
	// listener's renewed certificate is read again at a reload: the agent
	// holds the one it read in memory.
	ca := caFile(c)
	// So does a bounce_template edited under the same name: a file that
	// no longer parses refuses the reload.
	tpl := bounceTemplateFile(c)
	// soft_bounce too: the agent holds it (a new one is cheap).
	if dnsChanged || !reflect.DeepEqual(d.cfg.Delivery, c.Delivery) || !bytes.Equal(ca, d.agentCA) || !bytes.Equal(tpl, d.agentBounce) || d.cfg.SoftBounce != c.SoftBounce {
		o, err := d.agentOptions(c, running, res)
		if err != nil {
			return err
		}
		dopt = &o
	}
	g, err := newGeneration(&built, running.Hostname, d.buildOptions(), d.metrics, d.live.current())
	if err != nil {
		return err
	}
	ch, err := d.smtp.SetListeners(c.Listeners)
	if err != nil && len(ch.Added) == 0 && len(ch.Removed) == 0 {
		_ = g.close()
		return listenError(c, err)
	}
	d.live.swap(g)
	d.smtp.SetDomains(c)
	d.smtp.SetLimits(c)
	d.mailRcpts.Store(int64(c.Limits.MaxRecipients))
	// queue_minfree, for every reader at once; an agent holding back for
	// the old value looks again now rather than at its next recheck.
	if d.minFree.Swap(int64(c.Limits.QueueMinFree)) != int64(c.Limits.QueueMinFree) {
		d.agents.current().Kick()
	}
	d.smtp.SetSoftBounce(c)
	if aerr := d.smtp.SetAuth(c); aerr != nil {
		// Checked above: only a file changed since can get here.
		err = errors.Join(err, aerr)
	}
	for _, w := range configWarnings(c, g.pipe) {
		d.log.Warn(w)
	}
	if dopt != nil {
		// The agent delivering now finishes its attempts on the old
		// settings; its successor takes every other message.
		d.agents.start(d.agents.current().Successor(*dopt))
		d.tlsrpt.Reconfigure(c.Delivery.TLSReporting.Identity(running.Hostname), res)
		d.agentCA, d.agentBounce, d.resolver = ca, tpl, res
		d.names.set(res, c.DNS.Timeout.Duration)
	}
	if d.opt.LogLevel != nil {
		d.opt.LogLevel.Set(logLevel(c.Log))
	}
	d.cfg = c
	d.applied.Store(c)
	stages := make([]string, len(c.Stages))
	for i, s := range c.Stages {
		stages[i] = s.Name
	}
	attrs := []any{"source", c.Source, "pipeline", stages}
	if dopt != nil {
		attrs = append(attrs, "delivery", "replaced")
	}
	if len(ch.Added) > 0 {
		attrs = append(attrs, "listeners_added", ch.Added)
	}
	if len(ch.Removed) > 0 {
		attrs = append(attrs, "listeners_removed", ch.Removed)
	}
	d.log.Info("config reloaded", attrs...)
	if keys := restartKeys(running, c, d.opt.LogLevel != nil); len(keys) > 0 {
		d.log.Warn("changed settings take effect at the next restart", "keys", keys)
	}
	if err != nil {
		// A changed listener that keeps its address could not be bound
		// again; everything else is applied.
		return fmt.Errorf("%s: %w", PartialReload, err)
	}
	return nil
}

// caFile is what [delivery] ca_file holds now (nil without one, or when
// it cannot be read: making the agent reports that).
func caFile(c *config.Config) []byte {
	if c.Delivery.CAFile == "" {
		return nil
	}
	b, _ := os.ReadFile(c.Resolve(c.Delivery.CAFile))
	return b
}

// restartKeys names the settings that differ between a, the running ones,
// and b and that a reload does not apply. levelApplied: the reload sets
// the log level (Options.LogLevel).
func restartKeys(a, b *config.Config, levelApplied bool) []string {
	var keys []string
	level := struct{ a, b any }{a.Log.Level, b.Log.Level}
	if levelApplied {
		level.a, level.b = nil, nil
	}
	for _, f := range []struct {
		key  string
		a, b any
	}{
		{"hostname", a.Hostname, b.Hostname},
		{"data_dir", a.Resolve(a.DataDir), b.Resolve(b.DataDir)},
		{"admin", a.Admin, b.Admin},
		{"log.format", a.Log.Format, b.Log.Format},
		{"log.level", level.a, level.b},
	} {
		if !reflect.DeepEqual(f.a, f.b) {
			keys = append(keys, f.key)
		}
	}
	keys = append(keys, smtpd.RestartLimits(a.Limits, b.Limits)...)
	return keys
}

// errNotRunning is Reload's answer before Start or after Stop.
var errNotRunning = errors.New("daemon not running")

// PartialReload begins the error of a reload applied all but in part (a
// changed listener that could not be bound again): not a refusal, since
// the rest of the new config runs.
const PartialReload = "reload applied except"
