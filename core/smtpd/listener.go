package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/rejectfooter"
)

// listener is one configured socket and the go-smtp server behind it. Sluice
// accepts connections itself, so the connect hook and max_connections are
// decided before go-smtp writes its 220 greeting, without holding up the
// accept loop; admitted connections reach go-smtp through a handoff.
type listener struct {
	srv   *Server
	cfg   config.Listener
	tls   *tls.Config             // nil: no STARTTLS
	certs atomic.Pointer[certSet] // what tls serves; SetListeners renews it

	// tlsRequired is tls_required as it is now: each connection takes it
	// when accepted, and SetListeners changes it for those to come.
	tlsRequired atomic.Bool
	// forbidPipelining is forbid_unauth_pipelining, taken and changed
	// so too.
	forbidPipelining atomic.Bool
	// hideClient is received = "hide-client", taken and changed so too.
	hideClient atomic.Bool
	// noAuth is auth = false, taken and changed so too, and read at
	// each EHLO and AUTH.
	noAuth atomic.Bool
	// authSender is received_auth_user, taken and changed so too.
	authSender atomic.Bool
	// bareLF is bare_newline = "reject" with its reject code and
	// exclusions (nil: normalize), taken and changed so too.
	bareLF atomic.Pointer[bareLFRule]
	// proxy is proxy_protocol and proxy_timeout, taken and changed so too.
	proxy atomic.Pointer[proxyTrust]
	// xclient is xclient_hosts, which each XCLIENT and EHLO asks as it
	// is then.
	xclient atomic.Pointer[xclientTrust]
	// greet is greet_pause and greet_pause_skip, which each connection
	// takes when accepted.
	greet atomic.Pointer[greetPause]
	// banner and footer are banner and reject_footer, taken so too.
	banner atomic.Pointer[string]
	footer atomic.Pointer[rejectfooter.Footer]

	sock net.Listener

	// mu guards smtp and handoff, which SetLimits replaces (setSMTP),
	// and closed.
	mu      sync.Mutex
	smtp    *smtp.Server
	handoff *handoff
	closed  bool
	// accepting is closed when the accept loop has returned: no new
	// connection of this listener can be tracked after that.
	accepting chan struct{}
}

func newListener(s *Server, lc config.Listener) (*listener, error) {
	l := &listener{srv: s, cfg: lc}
	var certs *certSet
	if lc.TLSCert != "" {
		var err error
		if certs, err = loadCerts(s.cfg, lc); err != nil {
			return nil, err
		}
		l.tls = serverTLS(&l.certs)
	}
	l.take(lc, certs)
	l.smtp = l.newSMTP(s.lim())
	return l, nil
}

// take makes lc's tls_required, auth, received, received_auth_user,
// proxy_protocol, proxy_timeout, xclient_hosts, the greet_pause settings,
// banner, reject_footer, forbid_unauth_pipelining and the bare_newline
// settings the listener's, and certs (unless nil) what its TLS serves:
// at its start, and at a reload that keeps its socket (SetListeners).
func (l *listener) take(lc config.Listener, certs *certSet) {
	l.tlsRequired.Store(lc.TLSRequired)
	l.noAuth.Store(lc.AuthOff())
	l.forbidPipelining.Store(lc.ForbidsUnauthPipelining())
	l.bareLF.Store(newBareLFRule(lc))
	l.hideClient.Store(lc.Received.HidesClient())
	l.authSender.Store(lc.ReceivedAuthUser)
	l.proxy.Store(newProxyTrust(lc))
	l.xclient.Store(newXClientTrust(lc))
	l.greet.Store(newGreetPause(lc))
	banner := lc.Greeting()
	l.banner.Store(&banner)
	l.footer.Store(footerOf(lc.RejectFooter))
	if certs != nil {
		l.certs.Store(certs)
	}
}

// newSMTP is the go-smtp server of the listener with limits lim; SetLimits
// makes a new one when the limits it holds change.
func (l *listener) newSMTP(lim *config.Limits) *smtp.Server {
	s := l.srv
	srv := smtp.NewServer(backend{l})
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = lim.MaxMessageSize // advertised as SIZE (RFC 1870)
	srv.MaxLineLength = lim.MaxLineLength
	// The recipient limit is the session's, so the reply is ours; the
	// LIMITS line (RFC 9422) names it, and max_messages_per_connection.
	srv.MaxRecipients = 0
	srv.Limits = s.advertisedLimits
	// go-smtp resets this deadline before each command line, BDAT's after
	// a chunk included (Postfix's smtpd_timeout); message data, DATA's and
	// BDAT chunks', gets data_timeout on each read instead (RFC 5321
	// §4.5.3.2.6: on progress).
	srv.ReadTimeout = lim.CommandTimeout.Duration
	srv.WriteTimeout = lim.CommandTimeout.Duration
	srv.DataTimeout = lim.DataTimeout.Duration
	// A message's data has data_timeout in all to wait for, plus what its
	// bytes earn over min_data_rate (Postfix's smtpd_min_data_rate), so a
	// client trickling a byte at a time cannot hold the session.
	srv.MinDataRate = int64(max(lim.MinDataRate, 0))
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	// REQUIRETLS (RFC 8689 §2) is advertised only under TLS, after
	// STARTTLS or on implicit TLS: go-smtp leaves it out of a plaintext
	// EHLO. MAIL with it in the clear is refused in session.mail.
	srv.EnableREQUIRETLS = true
	// STARTTLS is advertised only with a TLS config. Kind "submissions" is
	// TLS from the first byte (RFC 8314 §3.3), so go-smtp sees a tls.Conn
	// and does not offer it there.
	srv.TLSConfig = l.tls
	srv.ErrorLog = errorLog{s.log.With("listener", l.cfg.Name)}
	srv.StartTLSFailed = s.startTLSFailed
	// AUTH is offered only under TLS (RFC 8314 §3, RFC 4954 §4), but the
	// session decides that itself (AuthMechanisms is empty in the clear), so
	// that AUTH in the clear gets RFC 4954's 538 5.7.11 rather than
	// go-smtp's 523. Kinds "submission" and "submissions" require AUTH
	// before MAIL (RFC 6409 §4.3).
	srv.AllowInsecureAuth = true
	srv.ConnErrorCounter = s.connErrors
	// tls_required: 530 5.7.0 to mail in the clear (RFC 3207 §4), an
	// error towards max_errors as Postfix counts it.
	srv.TLSRequired = func(sc *smtp.Conn) bool {
		c := connOf(sc)
		return c != nil && c.tlsRequired
	}
	srv.JunkCommand = s.junkCommand
	// forbid_unauth_pipelining: 554 5.5.0 to a command sent ahead of
	// its turn (RFC 2920 §3.1), and a close (pipelining.go).
	srv.OutOfTurn = s.outOfTurn
	// bare_newline = "reject": a command line ended by a bare LF is
	// refused too, as Postfix's (barenewline.go).
	srv.BareLFCommand = s.bareLFCommand
	// An HTTP request or a header field sent as a command: 221 2.7.0 and
	// a close, as Postfix's smtpd (nonsmtp.go).
	srv.NonSMTPCommand = s.nonSMTPCommand
	srv.ReplyCode = s.replyCode
	srv.ReplyLines = s.replyLines
	srv.Greeting = s.greeting
	return srv
}

// BindError is a listener whose address could not be bound (in use,
// not this host's, a privileged port), for the daemon to report at the
// listener's listen line.
type BindError struct {
	Listener string // the listener's name
	Err      error
}

func (e *BindError) Error() string { return fmt.Sprintf("smtpd: listener %s: %v", e.Listener, e.Err) }

// Unwrap returns the cause, a *net.OpError.
func (e *BindError) Unwrap() error { return e.Err }

func (l *listener) bind() error {
	sock, err := net.Listen("tcp", l.cfg.Listen)
	if err != nil {
		return err
	}
	l.sock = sock
	l.handoff = newHandoff(sock.Addr())
	l.accepting = make(chan struct{})
	return nil
}

func (l *listener) close() {
	if l.sock == nil {
		return
	}
	l.mu.Lock()
	l.closed = true
	h := l.handoff
	l.mu.Unlock()
	_ = l.sock.Close()
	_ = h.Close()
}

func (l *listener) serve() {
	l.mu.Lock()
	srv, h := l.smtp, l.handoff
	l.mu.Unlock()
	l.serveOn(srv, h)
}

func (l *listener) serveOn(srv *smtp.Server, h *handoff) {
	defer l.srv.loops.Done()
	if err := srv.Serve(h); err != nil && !errors.Is(err, net.ErrClosed) {
		l.srv.log.Error("smtp server stopped", "listener", l.cfg.Name, "err", err)
	}
}

// setSMTP makes srv the go-smtp server of the running listener: new
// connections go to it, through a new handoff, while the sessions of the
// one before go on under it to their end (go-smtp's Serve returns when
// its handoff closes, and leaves its connections be).
func (l *listener) setSMTP(srv *smtp.Server) {
	l.mu.Lock()
	if l.closed || l.handoff == nil {
		l.smtp = srv
		l.mu.Unlock()
		return
	}
	old := l.handoff
	h := newHandoff(old.addr)
	l.smtp, l.handoff = srv, h
	l.srv.loops.Add(1)
	go l.serveOn(srv, h)
	l.mu.Unlock()
	_ = old.Close()
}

func (l *listener) acceptLoop() {
	defer l.srv.loops.Done()
	defer close(l.accepting)
	var backoff time.Duration
	for {
		raw, err := l.sock.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.srv.log.Warn("accept failed", "listener", l.cfg.Name, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := newConn(l, raw)
		if p := l.proxy.Load(); p.trusts(c.info.Client.Addr()) {
			// The client is who the PROXY header names: its limits
			// wait for the header, read off the accept loop.
			go l.admitProxied(c, l.srv.register(c), p.timeout)
			continue
		}
		refused := l.srv.track(c)
		go l.admit(c, refused)
	}
}

// admit runs the connect checks, waits out greet_pause, and passes the
// connection to go-smtp; limit is the connection limit's refusal, if any.
func (l *listener) admit(c *conn, limit *reply.Reply) {
	since := time.Now() // the pause runs alongside the connect checks
	var nc net.Conn = c
	if l.cfg.Kind == config.KindSubmissions {
		nc = tls.Server(c, l.tls)
	}
	if limit != nil {
		l.limitRefused(c, limit)
		l.refuse(c, nc, limit)
		return
	}
	if tc, ok := nc.(*tls.Conn); ok {
		if !l.handshake(c, tc) {
			return
		}
		since = time.Now() // the client always speaks first here
	}
	if l.srv.clientName != nil {
		// Before the connect hook, as Postfix looks it up before its
		// client restrictions: the stages and milters see the name.
		c.info.ClientName = l.srv.clientName(l.srv.ctx, c.info.Client.Addr())
	}
	if r := l.connectRefusal(c); r != nil {
		l.refuse(c, nc, r)
		return
	}
	if !l.pause(c, nc, since) {
		return
	}
	for {
		l.mu.Lock()
		h, closed := l.handoff, l.closed
		l.mu.Unlock()
		if closed {
			c.closeAs(metrics.CloseShutdown)
			_ = nc.Close()
			return
		}
		select {
		case h.conns <- nc:
			return
		case <-h.done: // closed, or replaced by setSMTP: look again
		}
	}
}

// handshake completes the TLS handshake of an implicit-TLS connection
// before the connect checks, as Postfix's smtps (smtpd_tls_wrappermode)
// does before its client restrictions and its milters' connect event: the
// connect hook knows the protocol and cipher, and a refusal goes out
// encrypted. It bounds the handshake by command_timeout and reports
// whether it succeeded; a client that fails it is logged and closed.
// go-smtp's own Handshake then finds it done.
func (l *listener) handshake(c *conn, tc *tls.Conn) bool {
	_ = tc.SetDeadline(time.Now().Add(l.srv.lim().CommandTimeout.Duration))
	err := tc.Handshake()
	if err == nil {
		// go-smtp sets its own deadlines from the greeting on.
		err = tc.SetDeadline(time.Time{})
	}
	if err != nil {
		// A client's failure is one line at info, as Postfix logs
		// "SSL_accept error"; a handshake Shutdown cut short (drain ends
		// its read) is no client's, and goes to debug as a PROXY
		// header's does.
		c.mu.Lock()
		level, reason := slog.LevelInfo, metrics.CloseTLS
		if c.closing {
			level, reason = slog.LevelDebug, metrics.CloseShutdown
		}
		c.mu.Unlock()
		c.closeAs(reason) // unless the client left, or stalled, first
		l.srv.log.Log(context.Background(), level, "TLS handshake failed", append(append([]any{"listener", l.cfg.Name}, clientAttrs(&c.info)...), "detail", err.Error())...)
		_ = tc.Close()
		return false
	}
	setTLS(&c.info, tc.ConnectionState())
	return true
}

// limitRefused logs a connection refused for a connection limit.
func (l *listener) limitRefused(c *conn, limit *reply.Reply) {
	c.closeAs(metrics.CloseConnLimit)
	l.srv.log.Warn("connection refused", append(append([]any{"listener", l.cfg.Name}, clientAttrs(&c.info)...), "reply", limit.String())...)
}

// connectRefusal asks the connect hook about the connection's client and
// returns its refusal, logged and made fit for the greeting's place
// (greetingRefusal); nil: the client is welcome.
func (l *listener) connectRefusal(c *conn) *reply.Reply {
	r := l.srv.checkConnect(&c.info)
	if r == nil {
		return nil
	}
	c.closeAs(metrics.CloseStage)
	sent, soft := l.srv.softLogged(r)
	r = greetingRefusal(sent)
	l.srv.log.Info("connection refused", append(append(append([]any{"listener", l.cfg.Name}, clientAttrs(&c.info)...), "reply", r.Error()), soft...)...)
	return r
}

// greetingRefusal turns a refusal of the connect hook (a plugin's or a
// milter's: 550 5.7.1, 451 4.7.1, a dead stage's 451 4.3.0) into a reply
// valid in place of the greeting, where RFC 5321 §4.3.2 allows only 220,
// 554 and 421 (§3.1: 554 when the server will not serve the client;
// §3.8: 421 when it cannot now, and closes), and RFC 7504 §3 adds 521
// (the host does not accept mail, and closes). The stage's text and the
// subject and detail of its enhanced code are kept; the class follows
// the code.
func greetingRefusal(r *reply.Reply) *reply.Reply {
	g := *r
	switch {
	case r.Code == 554 || r.Code == 421 || r.Code == 521:
		return r
	case r.Temporary():
		g.Code = 421
	default:
		g.Code = 554
	}
	if g.Enhanced != [3]int{} {
		g.Enhanced[0] = g.Code / 100
	}
	return &g
}

// refuse answers a connection that will not be served with r in place of
// the greeting. After a 554 the client may only QUIT; other commands get
// 503 (RFC 5321 §3.1). A 421 closes at once (RFC 5321 §3.8), as a 521
// does (RFC 7504 §3).
func (l *listener) refuse(c *conn, nc net.Conn, r *reply.Reply) {
	defer nc.Close()
	// One command_timeout for the whole exchange, not one per line: a
	// client trickling a line every few minutes held its max_connections
	// slot for up to ten timeouts (50 minutes by default).
	_ = nc.SetDeadline(time.Now().Add(l.srv.lim().CommandTimeout.Duration))
	if _, err := io.WriteString(nc, c.wire(r)); err != nil || r.Temporary() || r.Code == 521 {
		return
	}
	br := bufio.NewReader(nc) // ReadSlice fails on a line longer than its buffer
	for range 10 {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if strings.EqualFold(strings.TrimSpace(string(line)), "QUIT") {
			_, _ = io.WriteString(nc, closing.String()+"\r\n")
			return
		}
		if _, err := io.WriteString(nc, c.wire(&badSequence)); err != nil {
			return
		}
	}
}

// handoff is the net.Listener go-smtp serves: Accept yields the connections
// that passed admission.
type handoff struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

var _ net.Listener = (*handoff)(nil)
