// Package daemon wires Sluice's parts together: the queue, the listeners,
// delivery and the admin API, and runs them until told to stop.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/core/smtpd"
	"github.com/sluice-mta/sluice/sdk"
)

// Options configure a Daemon.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Version string
	// DrainTimeout bounds how long Stop waits for sessions and deliveries.
	DrainTimeout time.Duration
	// Self is the sluice executable first-party plugins run from
	// (`Self plugin serve NAME`); default os.Executable().
	Self string
	// ConfigPath is the file Config was read from, read again by
	// ReloadFile (POST /api/reload); "" is the embedded default.
	ConfigPath string
	// LogLevel, when set, is the level Logger logs at (NewLevelLogger's):
	// a reload sets it to the file's [log] level.
	LogLevel *slog.LevelVar
	// Started, when set, is called once the daemon runs, before the
	// "sluice started" line: whoever waits for that line may signal the
	// process at once, and sluice serve must then treat a SIGTERM as a
	// stop to drain, not one during start.
	Started func()
	// Clock is the time delivery suspensions start and run out by
	// (tests); default time.Now.
	Clock func() time.Time
}

// Daemon is a running Sluice.
type Daemon struct {
	opt      Options
	log      *slog.Logger
	queue    *queue.Store
	smtp     *smtpd.Server
	resolver *dnsresolve.Resolver
	names    *clientNames // the listener's client names, asked of resolver
	agents   agents       // delivery
	agentCA  []byte       // [delivery] ca_file as the current agent read it
	tlsrpt   *delivery.TLSReports
	// suspended: the recipient domains delivery is suspended to (sluice
	// queue suspend), shared by every agent a reload starts.
	suspended *delivery.Suspensions
	// mail queues plugin mail; nil until the pipeline runs (sendMail),
	// when mailReady is closed.
	mail      atomic.Pointer[delivery.PluginMail]
	mailReady chan struct{}
	metrics   *metrics.Metrics
	live      *livePolicy // the pipeline, swapped at reload
	adminLn   net.Listener
	adminSrv  *http.Server

	// mailRcpts is [limits] max_recipients, which bounds plugin mail's
	// recipients; set at start and at each reload.
	mailRcpts atomic.Int64
	// minFree is [limits] queue_minfree, set at start and at each
	// reload: the listener, delivery, plugin mail and mailed TLS reports
	// all read this one value, so none of them disagree after a reload.
	minFree atomic.Int64
	// applied is the config applied last (cfg) for readers that must
	// not wait for a reload to end: an HTTP injection's listener and
	// max_message_size.
	applied atomic.Pointer[config.Config]
	// agentBounce is [delivery] bounce_template's file as the current
	// agent read it (agentCA's counterpart).
	agentBounce []byte

	cancel   context.CancelFunc
	bg       sync.WaitGroup // background tasks that use the queue
	stopOnce sync.Once
	stopErr  error

	reloadMu sync.Mutex     // one Reload at a time, none during Stop
	cfg      *config.Config // the config applied last; guarded by reloadMu
	stopped  bool           // guarded by reloadMu
	// stopping is done once Stop begins: a reload still starting a
	// plugin then gives up rather than hold Stop back (reloadMu) for the
	// plugin's start timeout.
	stopping    context.Context
	endStarting context.CancelFunc
}

// buildOptions starts the daemon's stages.
func (d *Daemon) buildOptions() buildOptions {
	return buildOptions{stop: d.stopping, self: d.opt.Self, log: d.log, mail: d.sendMail}
}

// sendMail queues a message the plugin of stage sent (sdk.Mailer).
func (d *Daemon) sendMail(ctx context.Context, stage string, maxSize int64, m sdk.OutgoingMessage) (string, error) {
	pm := d.mail.Load()
	if pm == nil {
		// A plugin sending while the daemon still starts its stages
		// (from a goroutine its Configure started): the bounce hook has
		// no pipeline to run in yet, so the Send waits for it, as long
		// as the plugin's context allows, rather than fail a message
		// the plugin would have to retry.
		select {
		case <-d.mailReady:
			pm = d.mail.Load()
		case <-d.stopping.Done():
			return "", errors.New("the daemon is stopping: no plugin mail")
		case <-ctx.Done():
			return "", fmt.Errorf("the daemon is starting: no plugin mail before it runs: %w", ctx.Err())
		}
	}
	return pm.Send(ctx, stage, maxSize, m)
}

// Start opens the queue, binds every listener and starts delivery. Any
// failure is returned and everything already started is closed again.
func Start(opt Options) (_ *Daemon, err error) {
	c := opt.Config
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.DrainTimeout == 0 {
		opt.DrainTimeout = 30 * time.Second
	}
	d := &Daemon{opt: opt, log: opt.Logger, cfg: c, mailReady: make(chan struct{})}
	d.applied.Store(c)
	d.stopping, d.endStarting = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			d.closeAll()
		}
	}()
	// The files the listeners read, first: a bad one is then reported at
	// its key's line, as check-config reports it, before anything starts.
	if err := checkFiles(c); err != nil {
		return nil, err
	}
	if err := checkDataDir(c); err != nil {
		return nil, err
	}
	dataDir := c.Resolve(c.DataDir)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, c.KeyError("", -1, "data_dir", fmt.Errorf("data_dir: %w", err))
	}
	// Start refuses a data_dir with less than queue_minfree free: Pebble
	// may have to write while opening, and a full disk would stop it.
	d.queue, err = queue.Open(dataDir, queue.Options{Logger: d.log, MinFree: int64(c.Limits.QueueMinFree)})
	if err != nil {
		return nil, err
	}
	d.minFree.Store(int64(c.Limits.QueueMinFree))
	d.resolver, err = dnsresolve.New(c.DNS.Servers, c.DNS.Timeout.Duration)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	if opt.Self == "" {
		if opt.Self, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	d.opt.Self = opt.Self
	d.metrics = metrics.New(metrics.Providers{Queue: d.queueSizes, Stages: d.stageHealth, Pebble: d.pebbleStats})
	g, err := newGeneration(c, c.Hostname, d.buildOptions(), d.metrics, nil)
	if err != nil {
		return nil, err
	}
	d.live = newLivePolicy(g, d.log)
	// Made whether tls_rpt is on or not: a reload may turn it on, and
	// counts kept before it was turned off are still reported.
	d.tlsrpt = delivery.NewTLSReports(delivery.TLSReportOptions{
		Identity: c.Delivery.TLSReporting.Identity(c.Hostname), Hostname: c.Hostname,
		Path: filepath.Join(dataDir, tlsrptFile), Resolver: d.resolver, Queue: d.queue,
		Filter: d.bounceFilter, Logger: d.log, Metrics: d.metrics,
		FreeSpace: d.queue.FreeSpace, MinFree: d.minFree.Load})
	d.suspended = delivery.NewSuspensions(delivery.SuspensionOptions{Path: filepath.Join(dataDir, suspendedFile),
		Clock: opt.Clock, Logger: d.log, Metrics: d.metrics, Ended: d.suspensionEnded})
	d.mailRcpts.Store(int64(c.Limits.MaxRecipients)) // before a Send can read it
	d.mail.Store(delivery.NewPluginMail(delivery.PluginMailOptions{Queue: d.queue, Filter: d.bounceFilter, Hostname: c.Hostname,
		Logger: d.log, Metrics: d.metrics, FreeSpace: d.queue.FreeSpace, MinFree: d.minFree.Load,
		MaxRecipients: func() int { return int(d.mailRcpts.Load()) }}))
	close(d.mailReady)
	for _, w := range configWarnings(c, g.pipe) {
		d.log.Warn(w)
	}
	d.names = &clientNames{log: d.log}
	d.names.set(d.resolver, c.DNS.Timeout.Duration)
	d.smtp, err = smtpd.New(smtpd.Options{Config: c, Queue: d.queue, Logger: d.log, Policy: d.live, Metrics: d.metrics,
		FreeSpace: d.queue.FreeSpace, MinFree: d.minFree.Load, ClientName: d.names.lookup})
	if err != nil {
		return nil, err
	}
	if c.Admin.Listen != "" {
		d.adminLn, err = net.Listen("tcp", c.Admin.Listen)
		if err != nil {
			return nil, c.KeyError("admin", -1, "listen", fmt.Errorf("admin listen: %w", err))
		}
		// The admin API shares the daemon's file descriptors with SMTP:
		// a local client opening connection after connection must not
		// take them all. Beyond the cap, connections wait in the
		// kernel's backlog until one closes.
		d.adminLn = netutil.LimitListener(d.adminLn, adminMaxConns)
		if adminExposed(c.Admin.Listen, c.Admin.Token) {
			d.log.Warn("the admin API listens beyond loopback without [admin] token: anyone who reaches it can read, hold, delete and bounce mail, and send mail through POST /api/inject",
				"admin", c.Admin.Listen)
		}
		d.adminSrv = &http.Server{
			Handler: admin.Handler(admin.Options{Queue: d.queue, NotFound: queue.ErrNotFound, Closed: queue.ErrClosed,
				Conflicts: []error{queue.ErrNotHeld, queue.ErrNotActive, delivery.ErrInProgress},
				Withdrawn: func(id string) { d.agents.current().Withdrawn(id) },
				Token:     c.Admin.Token, Logger: d.log, Version: opt.Version, Suspensions: suspensionsAPI{d.suspended},
				Trace: d.queue.Trace, Pipeline: func() any { return d.pipe().Status() },
				Reload: d.ReloadFile, Metrics: d.metrics.Handler(), TLSReports: d.tlsrpt.Today,
				Inject: d.inject, MaxMessageSize: func() int64 { return d.applied.Load().Limits.MaxMessageSize },
				ReserveData: func(n int64) bool { return d.smtp.ReserveData(n) }, ReleaseData: func(n int64) { d.smtp.ReleaseData(n) },
				// The agent is made below, before the server starts serving.
				Bounce:         func(ctx context.Context, id string) error { return d.agents.current().Bounce(ctx, id) },
				ForgetBackoffs: func() { d.agents.current().ForgetBackoffs() },
				ForgetSiteBackoff: func(m *envelope.Message, domain string) {
					d.agents.current().ForgetSiteBackoff(m, domain)
				}}),
			ReadHeaderTimeout: 10 * time.Second,
			// A keep-alive connection is closed once idle this long; it
			// used to stay open for good after its first request. No
			// WriteTimeout: a flush or a pprof profile may take minutes.
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 64 << 10,
		}
	}
	if err := d.smtp.Start(); err != nil {
		return nil, listenError(c, err)
	}
	dopt, err := d.agentOptions(c, c, d.resolver)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.agents.ctx = ctx
	d.agentCA = caFile(c)
	d.agentBounce = bounceTemplateFile(c)
	d.agents.start(delivery.New(d.queue, dopt))
	if d.adminSrv != nil {
		go func() { _ = d.adminSrv.Serve(d.adminLn) }()
	}
	d.bg.Add(1)
	go func() { defer d.bg.Done(); d.pruneTraces(ctx) }()
	d.bg.Add(1)
	go func() { defer d.bg.Done(); d.tlsrpt.Run(ctx) }()
	d.bg.Add(1)
	go func() { defer d.bg.Done(); d.suspended.Run(ctx) }()
	attrs := []any{"hostname", c.Hostname, "data_dir", dataDir, "version", opt.Version}
	for name, a := range d.smtp.Addrs() {
		attrs = append(attrs, "listener."+name, a.String())
	}
	if d.adminLn != nil {
		attrs = append(attrs, "admin", d.adminLn.Addr().String())
	}
	if opt.Started != nil {
		opt.Started()
	}
	d.log.Info("sluice started", attrs...)
	return d, nil
}

// bounceFilter runs a generated report through the pipeline's bounce hook,
// from its envelope sender: the null sender but for plugin mail's.
func (d *Daemon) bounceFilter(ctx context.Context, r *envelope.Message, body []byte) (pipeline.BounceResult, error) {
	rcpts := make([]string, len(r.Rcpts))
	for i, rc := range r.Rcpts {
		rcpts[i] = rc.Addr
	}
	g := d.live.acquire() // a reload meanwhile must not stop its stages
	defer d.live.release(g)
	return g.pipe.BounceNoted(ctx, r.ID, r.From, rcpts, body, pipeline.Notes{Session: r.SessionNotes, Txn: r.TxnNotes}), nil
}

// deliverHook runs the pipeline's deliver hook for recipients of m about
// to be sent.
func (d *Daemon) deliverHook(ctx context.Context, m *envelope.Message, rcpts []delivery.DeliverRcpt) []delivery.DeliverVerdict {
	out := make([]delivery.DeliverVerdict, len(rcpts))
	g := d.live.acquire() // a reload meanwhile must not stop its stages
	defer d.live.release(g)
	if !g.pipe.Declares(sdk.HookDeliver) {
		return out // the usual case: no envelope to build
	}
	env := sdk.Envelope{MailFrom: m.From, QueueID: m.ID}
	for _, rc := range m.Rcpts {
		env.Rcpts = append(env.Rcpts, sdk.Recipient{Addr: rc.Addr, Route: rc.Route})
	}
	calls := make([]pipeline.DeliverCall, len(rcpts))
	for i, r := range rcpts {
		calls[i] = pipeline.DeliverCall{Env: env, Rcpt: sdk.Recipient{Addr: r.Rcpt.Addr, Route: r.Route}, RouteBy: r.Rcpt.RouteBy,
			Notes: pipeline.Notes{Session: m.SessionNotes, Txn: m.TxnNotes}}
	}
	for i, o := range g.pipe.Deliver(ctx, calls) {
		out[i].Trace = o.Trace
		out[i].Rerouted, out[i].Route, out[i].RoutedBy = o.Rerouted, o.Route, o.RoutedBy
		switch {
		case o.Reply != nil:
			out[i].Reply = o.Reply
		case o.Action == sdk.ActionDiscard:
			out[i].Drop = true
		case o.Action == sdk.ActionQuarantine:
			out[i].Quarantine = true
		}
	}
	return out
}

// pipe returns the pipeline new sessions run.
func (d *Daemon) pipe() *pipeline.Pipeline { return d.live.current().pipe }

// queueSizes feeds the queue gauges at scrape time from the counts the
// queue keeps and its first message: no scan, at any queue size.
func (d *Daemon) queueSizes() (map[string]int, time.Time) {
	c, err := d.queue.Counts()
	if err != nil {
		return nil, time.Time{}
	}
	counts := make(map[string]int, len(c))
	for st, n := range c {
		counts[string(st)] = n
	}
	oldest, _ := d.queue.Oldest()
	return counts, oldest
}

// pebbleStats feeds Pebble's own numbers at scrape time.
func (d *Daemon) pebbleStats() metrics.PebbleStats {
	s := d.queue.Stats()
	return metrics.PebbleStats{DiskBytes: s.DiskBytes, WALBytes: s.WALBytes, WALBytesWritten: s.WALBytesWritten,
		MemtableBytes: s.MemtableBytes, BlockCacheBytes: s.BlockCacheBytes, BlockCacheHits: s.BlockCacheHits,
		BlockCacheMisses: s.BlockCacheMisses, Compactions: s.Compactions, CompactionDebt: s.CompactionDebt,
		Flushes: s.Flushes, ReadAmp: s.ReadAmp, L0Files: s.L0Files, Tables: s.Tables}
}

// stageHealth feeds the per-stage up/restarts metrics at scrape time.
func (d *Daemon) stageHealth() []metrics.StageHealth {
	var out []metrics.StageHealth
	for _, s := range d.pipe().Status() {
		out = append(out, metrics.StageHealth{Name: s.Name, Kind: s.Kind, State: s.State, Restarts: s.Restarts})
	}
	return out
}

// tlsrptFile is the file of data_dir that keeps the TLS report counts
// across restarts (delivery.TLSReports).
const tlsrptFile = "tlsrpt.json"

// traceRetention is how long a message's pipeline trace is kept.
const traceRetention = 7 * 24 * time.Hour

// pruneTraces drops traces older than traceRetention, hourly.
func (d *Daemon) pruneTraces(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := d.queue.PruneTraces(time.Now().Add(-traceRetention)); err != nil {
			d.log.Warn("pruning traces", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SMTPAddrs returns the bound SMTP addresses by listener name.
func (d *Daemon) SMTPAddrs() map[string]net.Addr { return d.smtp.Addrs() }

// AdminAddr returns the bound admin address, or nil.
func (d *Daemon) AdminAddr() net.Addr {
	if d.adminLn == nil {
		return nil
	}
	return d.adminLn.Addr()
}

// Queue exposes the store (for tests and tools in-process).
func (d *Daemon) Queue() *queue.Store { return d.queue }

// Kick makes delivery rescan the queue now.
func (d *Daemon) Kick() { d.agents.current().Kick() }

// Stop drains gracefully: listeners stop accepting, sessions and
// deliveries in flight finish within DrainTimeout, then the queue closes.
func (d *Daemon) Stop() error {
	d.stopOnce.Do(func() {
		d.endStarting()
		d.reloadMu.Lock()
		d.stopped = true
		d.reloadMu.Unlock()
		// Sessions, then deliveries, each get DrainTimeout. Cutting off
		// what is still running when it ends is the drain working as
		// configured, not a failure of the stop: it is logged, and Stop
		// still succeeds (a service manager would otherwise mark a
		// requested stop as failed).
		var errs []error
		if d.smtp != nil {
			ctx, cancel := context.WithTimeout(context.Background(), d.opt.DrainTimeout)
			if err := d.smtp.Shutdown(ctx); err != nil {
				d.log.Warn("drain: SMTP sessions still open after the drain timeout were closed", "drain_timeout", d.opt.DrainTimeout)
			}
			cancel()
		}
		// The closed sessions' disconnect hooks run beside the
		// deliveries' drain, and have as long.
		endsCtx, endsCancel := context.WithTimeout(context.Background(), d.opt.DrainTimeout)
		defer endsCancel()
		if d.cancel != nil {
			d.cancel()
			if ok, err := d.agents.wait(d.opt.DrainTimeout); !ok {
				d.log.Warn("drain: deliveries still running after the drain timeout were abandoned; their messages stay queued", "drain_timeout", d.opt.DrainTimeout)
			} else if err != nil {
				errs = append(errs, err)
			}
		}
		if d.adminSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := d.adminSrv.Shutdown(ctx); err != nil {
				_ = d.adminSrv.Close()
			}
			cancel()
		}
		// Every session is over: retired pipelines are closing already.
		errs = append(errs, d.live.shutdown(endsCtx))
		d.bg.Wait()
		// The deliveries drained after the reports' Run saved its counts.
		d.tlsrpt.Save()
		if d.queue != nil {
			errs = append(errs, d.queue.Close())
		}
		d.stopErr = errors.Join(errs...)
		d.log.Info("sluice stopped")
	})
	return d.stopErr
}

// adminMaxConns bounds the admin API's open connections.
const adminMaxConns = 128

// adminExposed reports whether the admin API listens beyond loopback with
// no token: then anyone who reaches the address can act on the queue.
func adminExposed(listen, token string) bool {
	return listen != "" && token == "" && !admin.IsLoopback(listen)
}

func (d *Daemon) closeAll() {
	// A failed start ends what waits for the daemon to run, as Stop
	// would: a plugin's Send waiting on mailReady would otherwise wait
	// as long as its own context, which may have no end.
	if d.endStarting != nil {
		d.endStarting()
	}
	if d.adminSrv != nil {
		_ = d.adminSrv.Close()
	}
	if d.adminLn != nil {
		_ = d.adminLn.Close() // not yet served when Start failed
	}
	if d.smtp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = d.smtp.Shutdown(ctx)
		cancel()
	}
	if d.live != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = d.live.shutdown(ctx)
		cancel()
	}
	if d.queue != nil {
		_ = d.queue.Close()
	}
}

// deliveryOptions maps [delivery] onto the agent's options.
func deliveryOptions(c *config.Config) (delivery.Options, error) {
	dc := c.Delivery
	o := delivery.Options{Config: dc, Hostname: c.Hostname}
	o.Routing = delivery.Routing{
		MessagesPerConnection: dc.MessagesPerConnection,
		BackoffAfter:          dc.BackoffAfter,
		Backoff:               dc.Backoff.Duration,
		BackoffMax:            dc.BackoffMax.Duration,
		MTASTS:                dc.MTASTS,
		DANE:                  dc.DANE,
	}
	if config.RelayIsRoute(dc.Relay) {
		// The relay as a route: its TLS policy and AUTH credentials, the
		// files relative to the config file as every path in it.
		rt, err := relayRoute(c, "relay", dc.Relay)
		if err != nil {
			return o, err
		}
		o.Routing.Relay = &rt
	}
	fallback, err := fallbackRoutes(c)
	if err != nil {
		return o, err
	}
	o.Routing.Fallback = fallback
	if dc.CAFile != "" {
		pool, err := delivery.SystemRootsWith(c.Resolve(dc.CAFile))
		switch {
		case errors.Is(err, delivery.ErrNoCertificate):
			return o, fmt.Errorf("delivery.ca_file: no certificate in %s", dc.CAFile)
		case err != nil:
			return o, fmt.Errorf("delivery.ca_file: %w", err)
		}
		o.Routing.RootCAs = pool
	}
	o.Bounce = delivery.BounceOptions{DelayWarning: dc.DelayWarning.Duration, DoubleBounceTo: dc.DoubleBounceTo, MaxReturn: dc.BounceSizeLimit}
	if dc.NoDelayWarning {
		o.Bounce.DelayWarning = -1
	}
	if o.Bounce.Templates, err = bounceTemplates(c); err != nil {
		return o, err
	}
	return o, nil
}
