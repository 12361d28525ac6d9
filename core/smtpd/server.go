// Package smtpd is Sluice's SMTP listener. It is the only package that
// imports go-smtp's server side: it runs one go-smtp server per configured
// listener, enforces the session limits, applies the built-in rules (no open
// relay, address syntax, RFC 5321 §2.3.8 line endings) and the Policy, adds
// the Received header and hands each accepted message to the queue before
// answering 250.
package smtpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/auth/dovecot"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
)

// Enqueuer stores accepted messages; *queue.Store implements it. Enqueue
// must return only once the message is durable, because the client is told
// 250 right after.
type Enqueuer interface {
	NewID() string
	// EnqueueTraced stores the message with its pipeline trace (nil: none).
	EnqueueTraced(m *envelope.Message, body, trace []byte) error
	// PutTrace stores the trace of a message a stage discarded.
	PutTrace(id string, trace []byte) error
}

// Options configure a Server.
type Options struct {
	Config *config.Config
	Queue  Enqueuer
	// Policy is asked at every SMTP step after the built-in rules; nil
	// allows whatever they allow.
	Policy Policy
	Logger *slog.Logger     // default slog.Default()
	Clock  func() time.Time // timestamps, rate buckets, AUTH lockouts; default time.Now
	// Users checks AUTH passwords after the Policy's auth hook has let
	// them through; default: the config's [auth] users_file, read again
	// whenever it changes.
	Users UserDB
	// Sleep waits before a failed AUTH is answered (auth_failure_delay)
	// and before a reply past soft_errors (error_delay, the tarpit); it
	// returns early when ctx ends. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration)
	// Metrics counts connections and transactions (nil: none).
	Metrics *metrics.Metrics
	// FreeSpace reports the bytes free for the queue (queue.Store's), which
	// MAIL and the end of DATA check against queue_minfree; nil: no check.
	FreeSpace func() (int64, error)
	// MinFree returns queue_minfree as it runs now, read at each check:
	// the daemon shares one value with delivery and plugin mail, so that
	// after a reload none of them disagree. Nil: the server's own
	// [limits] queue_minfree (SetLimits replaces it).
	MinFree func() int64
	// ClientName looks up a new client's verified host name before its
	// connect checks (dnsresolve.Resolver.ClientName; "" for none); nil:
	// no look-up, every client is known by its address alone.
	ClientName func(ctx context.Context, ip netip.Addr) string
}

// UserDB is the built-in user database; *auth.File implements it.
type UserDB interface {
	Verify(user, password string) bool
}

// Server is the set of SMTP listeners of one configuration.
type Server struct {
	cfg     *config.Config
	queue   Enqueuer
	policy  Policy
	metrics *metrics.Metrics
	// freeSpace and minFree are Options.FreeSpace and MinFree.
	freeSpace func() (int64, error)
	minFree   func() int64
	// clientName is Options.ClientName.
	clientName func(ctx context.Context, ip netip.Addr) string
	log        *slog.Logger
	clock      func() time.Time
	sleep      func(context.Context, time.Duration)

	// injectedUsers is Options.Users: it stands for users_file.
	injectedUsers UserDB
	// auth is [auth], which a reload replaces (SetAuth).
	auth atomic.Pointer[authState]
	// domains holds local_domains and relay_networks, which a reload
	// replaces (domains.go).
	domains atomic.Pointer[config.Config]
	// limits is [limits], which a reload replaces (limits.go).
	limits atomic.Pointer[config.Limits]
	// advert is the LIMITS text of limits, made at the first EHLO under
	// them (limitsadvert.go).
	advert atomic.Pointer[limitsText]
	// softBounce is soft_bounce, which a reload replaces (softbounce.go).
	softBounce atomic.Bool

	// Per-client limits.
	connRate      *buckets // by IP
	msgRateIP     *buckets // by IP
	msgRateSender *buckets // by AUTH user or reverse-path
	rcptRate      *buckets // accepted recipients, by AUTH user or reverse-path
	rcptRateIP    *buckets // accepted recipients, by IP
	authFails     *authFailures

	// dataMem is the message data all sessions hold now.
	dataMem dataMemory

	// ctx is handed to Policy hooks; it is cancelled when Shutdown stops
	// waiting for sessions.
	ctx    context.Context
	cancel context.CancelFunc

	listeners []*listener    // guarded by mu once started
	loops     sync.WaitGroup // accept loops and go-smtp Serve calls
	reconf    sync.Mutex     // one SetListeners at a time
	connWG    sync.WaitGroup // one per tracked connection
	stopOnce  sync.Once

	mu      sync.Mutex
	conns   map[*conn]struct{}
	perIP   map[netip.Addr]int // by clientKey
	started bool
	closing bool
}

// New builds one go-smtp server per config listener and loads their TLS
// certificates. Nothing is bound until Start.
func New(opt Options) (*Server, error) {
	if opt.Config == nil {
		return nil, errors.New("smtpd: no config")
	}
	if opt.Queue == nil {
		return nil, errors.New("smtpd: no queue")
	}
	return newServer(opt)
}

// Check does what New does with c short of needing a queue — the limits,
// the auth files, every listener's TLS certificate — so that a config
// `sluice check-config` passes does not fail New.
func Check(c *config.Config) error {
	if c == nil {
		return errors.New("smtpd: no config")
	}
	s, err := newServer(Options{Config: c})
	if err != nil {
		return err
	}
	s.cancel()
	return nil
}

// newServer is New once its options are checked; a nil Queue is only for
// Check, whose server never starts.
func newServer(opt Options) (*Server, error) {
	if l := opt.Config.Limits; l.MaxMessageSize <= 0 || l.MaxRecipients <= 0 || l.MaxLineLength <= 0 ||
		l.CommandTimeout.Duration <= 0 || l.DataTimeout.Duration <= 0 || l.MaxConnections <= 0 ||
		l.MaxErrors == 0 || l.MaxHeaderSize == 0 || l.AuthLockout.Duration <= 0 {
		return nil, errors.New("smtpd: config limits unset (load the config with config.Parse or config.Load)")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Sleep == nil {
		opt.Sleep = sleepCtx
	}
	lim := opt.Config.Limits
	s := &Server{
		cfg:           opt.Config,
		queue:         opt.Queue,
		policy:        opt.Policy,
		metrics:       opt.Metrics,
		freeSpace:     opt.FreeSpace,
		minFree:       opt.MinFree,
		clientName:    opt.ClientName,
		log:           opt.Logger,
		clock:         opt.Clock,
		sleep:         opt.Sleep,
		injectedUsers: opt.Users,
		conns:         map[*conn]struct{}{},
		perIP:         map[netip.Addr]int{},
		connRate:      newBuckets(connRate(&lim)),
		msgRateIP:     newBuckets(lim.MessageRatePerIP),
		msgRateSender: newSenderBuckets(lim.MessageRatePerSender, &lim, messageRateOf),
		rcptRate:      newSenderBuckets(lim.RecipientRatePerSender, &lim, recipientRateOf),
		rcptRateIP:    newBuckets(lim.RecipientRatePerIP),
		authFails:     newAuthFailures(lim),
	}
	s.domains.Store(domainsOf(opt.Config))
	s.limits.Store(&lim)
	if s.minFree == nil {
		s.minFree = func() int64 { return int64(s.lim().QueueMinFree) }
	}
	s.SetSoftBounce(opt.Config)
	if err := s.loadAuth(); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, lc := range opt.Config.Listeners {
		l, err := newListener(s, lc)
		if err != nil {
			s.cancel()
			return nil, err
		}
		s.listeners = append(s.listeners, l)
	}
	return s, nil
}

// Start binds every listener and serves each in its own goroutines. If one
// cannot be bound, none is left open and the error names it.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closing {
		return errors.New("smtpd: server already started")
	}
	for i, l := range s.listeners {
		if err := l.bind(); err != nil {
			for _, b := range s.listeners[:i] {
				_ = b.sock.Close()
				b.sock, b.handoff = nil, nil
			}
			return &BindError{Listener: l.cfg.Name, Err: err}
		}
	}
	s.started = true
	if d := s.auth.Load().dovecotClient(); d != nil {
		s.probeDovecot(d) // what EHLO offers, learnt before the first client
	}
	for _, l := range s.listeners {
		s.loops.Add(2)
		go l.acceptLoop()
		go l.serve()
	}
	return nil
}

// Addrs returns the bound address of each listener by name; it is empty
// before Start.
func (s *Server) Addrs() map[string]net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]net.Addr{}
	for _, l := range s.listeners {
		if l.sock != nil {
			out[l.cfg.Name] = l.sock.Addr()
		}
	}
	return out
}

// Shutdown stops accepting connections at once. Idle sessions are closed;
// a session with an open transaction (MAIL given, including one in DATA)
// may finish it, then it is closed too. When ctx ends first, the remaining
// connections are closed and ctx's error is returned. Either way no session
// touches the queue after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		ls := append([]*listener(nil), s.listeners...)
		s.mu.Unlock()
		for _, l := range ls {
			l.close()
		}
		s.loops.Wait() // no accept loop can track a new connection now
		s.mu.Lock()
		for c := range s.conns {
			c.drain()
		}
		s.mu.Unlock()
	})
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.closeAs(metrics.CloseShutdown)
			_ = c.Conn.Close() // the session's own Close untracks it
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// loadAuth opens the users file and reads the sender map.
func (s *Server) loadAuth() error {
	st, err := s.authFrom(s.cfg, nil)
	if err != nil {
		return err
	}
	s.auth.Store(st)
	return nil
}

// SetAuth makes c's [auth] the running server's, for a config reload: the
// senders map and senders_file are read again, and a users_file of
// another name is opened (one of the same name is kept: it is read again
// whenever it changes), as is a dovecot_socket of another name. On an
// error nothing changes.
func (s *Server) SetAuth(c *config.Config) error {
	st, err := s.authFrom(c, s.auth.Load())
	if err != nil {
		return err
	}
	s.auth.Store(st)
	if d := st.dovecot; d != nil && d.Cached() == nil {
		s.probeDovecot(d)
	}
	return nil
}

// authFrom builds c's [auth]; cur is the one running, if any.
func (s *Server) authFrom(c *config.Config, cur *authState) (*authState, error) {
	a := c.Auth
	st := &authState{users: s.injectedUsers, senders: auth.NewSenders(a.Senders), fromHeader: a.CheckFromHeader}
	if a.SendersFile != "" {
		if err := st.senders.LoadSendersFile(c.Resolve(a.SendersFile)); err != nil {
			return nil, fmt.Errorf("smtpd: senders_file: %w", err)
		}
	}
	if st.users == nil && a.DovecotSocket != "" {
		spec := dovecotSpec(c)
		if d := cur.dovecotClient(); d != nil && d.Spec() == spec {
			st.dovecot = d // keeps the mechanisms it learnt
		} else {
			d, err := dovecot.New(spec)
			if err != nil {
				return nil, fmt.Errorf("smtpd: dovecot_socket: %w", err)
			}
			st.dovecot = d
		}
	}
	if st.users == nil && a.UsersFile != "" {
		path := c.Resolve(a.UsersFile)
		if f := cur.usersFile(); f != nil && f.Path() == path {
			st.users = f
		} else {
			f, err := auth.OpenFile(path)
			if err != nil {
				return nil, fmt.Errorf("smtpd: users_file: %w", err)
			}
			st.users = f
		}
	}
	return st, nil
}

// dovecotSpec is c's dovecot_socket with a unix socket's path made
// relative to the config file, as the other [auth] files are.
func dovecotSpec(c *config.Config) string {
	spec := c.Auth.DovecotSocket
	if network, addr, err := dovecot.ParseAddr(spec); err == nil && network == "unix" {
		return "unix:" + c.Resolve(addr)
	}
	return spec
}

// track registers a new connection and applies the connection limits:
// max_connections, then for clients outside relay_networks
// max_connections_per_ip and connection_rate_per_ip, counted by clientKey.
// A refused connection is tracked anyway until it is closed.
func (s *Server) track(c *conn) *reply.Reply {
	return s.countClient(c, s.register(c))
}

// register tracks a new connection, for max_connections and Shutdown, and
// reports whether max_connections was reached before it. The accept loop
// registers each connection it accepts, one from a proxy too, before
// that has named its client.
func (s *Server) register(c *conn) (full bool) {
	s.metrics.ConnOpened(c.info.Listener)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.conns)
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return n >= s.lim().MaxConnections
}

// countClient counts a registered connection under its client's key and
// applies the connection limits (full: max_connections was reached).
func (s *Server) countClient(c *conn, full bool) *reply.Reply {
	ip := c.info.Client.Addr()
	key := s.clientKey(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	c.ipKey, c.ipCounted = key, true
	s.perIP[key]++
	lim := s.lim()
	switch {
	case full:
		return &tooManyConns
	case s.mayRelay(ip), c.info.proxyOwn():
		// A trusted proxy's own connections are its health checks:
		// throttling them as one client's would have the proxy mark
		// this server down. Nor has a client the proxy could not name
		// an address of its own to count.
		return nil
	case c.xclientAllowed():
		// An XCLIENT proxy (nginx's mail proxy) opens one connection per
		// client it serves, and its XCLIENT then counts the connection
		// under that client (adopt); Postfix too exempts its
		// smtpd_authorized_xclient_hosts from these limits.
		return nil
	case lim.MaxConnectionsPerIP >= 0 && s.perIP[key] > lim.MaxConnectionsPerIP:
		return &tooManyConnsFromIP
	case !s.connRate.take(key.String(), s.clock()):
		return &connRateExceeded
	}
	return nil
}

func (s *Server) untrack(c *conn) {
	s.metrics.ConnClosed(c.info.Listener, c.closeReason())
	if s.policy != nil {
		s.policy.Close(&c.info)
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.uncountLocked(c)
	s.mu.Unlock()
	s.connWG.Done()
}

// uncount takes a connection out of the per-IP count of its client, for
// XCLIENT to count it under the client it names.
func (s *Server) uncount(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uncountLocked(c)
}

// uncountLocked is uncount with s.mu held.
func (s *Server) uncountLocked(c *conn) {
	// The key it was counted under: client_ipv6_prefix_length may have
	// changed since.
	if key := c.ipKey; c.ipCounted {
		if s.perIP[key]--; s.perIP[key] <= 0 {
			delete(s.perIP, key)
		}
		c.ipCounted = false
	}
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
