package smtpd

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/rejectfooter"
)

// conn is one accepted TCP connection. It is the net.Conn go-smtp reads
// (below TLS when there is TLS), so a session finds it again from
// smtp.Conn.Conn(), and its Close tells the Server the connection is gone.
type conn struct {
	net.Conn // *net.TCPConn
	srv      *Server
	l        *listener   // the listener that accepted it
	info     SessionInfo // the connection's part: listener, client, TLS
	once     sync.Once

	// tlsRequired is the listener's tls_required when the connection was
	// accepted: a reload does not change it under a session.
	tlsRequired bool
	// forbidPipelining is the listener's forbid_unauth_pipelining when
	// the connection was accepted (pipelining.go); peek looks at its
	// unread input, made at its first use on the session's goroutine.
	forbidPipelining bool
	peek             *peeker
	// hideClient is the listener's received = "hide-client" when the
	// connection was accepted: an authenticated session's Received
	// field then has no from clause.
	hideClient bool
	// authSender is the listener's received_auth_user when the
	// connection was accepted: an authenticated session's Received
	// field then names the user.
	authSender bool
	// bareLF is the listener's bare_newline = "reject" rule when the
	// connection was accepted, nil for normalize (barenewline.go).
	bareLF *bareLFRule
	// greet is the listener's greet_pause when the connection was
	// accepted.
	greet *greetPause
	// banner and footer are the listener's banner and reject_footer
	// when the connection was accepted (footer.go).
	banner string
	footer *rejectfooter.Footer
	// clientMu guards info.Client's changes (relayedBy) against the
	// footer of Shutdown's 421, written from another goroutine.
	clientMu sync.Mutex

	// waitMu guards the error tarpit's waits (tarpit.go): waitCtx, made
	// at the first wait, ends when the connection is closed or Shutdown
	// begins (endWaits), after which waitsOver lets none begin.
	waitMu      sync.Mutex
	waitCtx     context.Context
	cancelWaits context.CancelFunc
	waitsOver   bool

	// closedBy is why the connection ends, once known (closeAs): the
	// reason its close is counted under (closereason.go).
	closedBy atomic.Pointer[metrics.CloseReason]
	// pausing: greet_pause is reading, under a deadline that is no
	// timeout of the session's. Set and read on the admitting goroutine,
	// before go-smtp has the connection.
	pausing bool

	// ipKey is the clientKey the connection counts under in Server.perIP,
	// once counted (ipCounted); guarded by Server.mu. A connection from a
	// proxy is counted only when its PROXY header has named the client.
	ipKey     netip.Addr
	ipCounted bool

	// xhelo and xproto are the HELO name and protocol ("SMTP", "ESMTP")
	// the last XCLIENT gave. xproto stands for the client's own
	// greeting in Received's "with" (plainSMTP); xhelo is only logged,
	// since the HELO or EHLO go-smtp requires after XCLIENT replaces
	// it, as in Postfix (NewSession). nil and "": not given. Set and
	// read on the session's goroutine.
	xhelo  *string
	xproto string
	// xclientOpen: an XCLIENT was answered, it gave no ADDR, and neither
	// HELO, EHLO nor STARTTLS has come since, so the next XCLIENT adds to
	// what it said (adopt). Set and read on the session's goroutine.
	xclientOpen bool
	// xclientPeer is the client that sent the connection's first
	// XCLIENT: its TCP peer, or the client a PROXY header named. Every
	// later XCLIENT comes from it too, whatever client the one before
	// named, so it stays the session's Proxy (adopt). Zero before the
	// first XCLIENT. Set and read on the session's goroutine.
	xclientPeer netip.AddrPort

	mu          sync.Mutex
	inTxn       bool // between an accepted MAIL and the end of the transaction
	closing     bool // Shutdown has begun
	saidGoodbye bool // the shutdown notice was written (sayGoodbye)
	noticeOut   bool // sayGoodbye wrote the 421 itself (in the clear)
	teased      bool // greet_pause's 220- line is out, the greeting's last line not (greetpause.go)
	tls         bool // TLS runs over this connection (implicit or STARTTLS)
	nMsgs       int  // transactions opened, for max_messages_per_connection
	nErrs       int  // refusals, for max_errors
	errCounted  bool // an error was counted (countError) since the last reply go-smtp wrote
	tarpitted   bool // the error tarpit has waited since nErrs began (or was forgiven)
	nJunk       int  // NOOP, RSET, VRFY... since the last queued message, for max_junk_commands
}

// tcpAddrPort is a connection's address as the session keeps it: an
// IPv4 client of a dual-stack socket unmapped (192.0.2.1, not
// ::ffff:192.0.2.1), and a link-local one without its interface zone
// (fe80::1, not fe80::1%eth0), which has no place in a Received field's
// address literal (RFC 5321 §4.1.3) and which no configured network
// would contain. The zero AddrPort for a connection that is not TCP.
func tcpAddrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().WithZone("").Unmap(), ap.Port())
}

func newConn(l *listener, raw net.Conn) *conn {
	client, local := tcpAddrPort(raw.RemoteAddr()), tcpAddrPort(raw.LocalAddr())
	return &conn{
		Conn:             raw,
		srv:              l.srv,
		l:                l,
		tlsRequired:      l.tlsRequired.Load(),
		hideClient:       l.hideClient.Load(),
		authSender:       l.authSender.Load(),
		bareLF:           l.bareLF.Load(),
		forbidPipelining: l.forbidPipelining.Load(),
		greet:            l.greet.Load(),
		banner:           *l.banner.Load(),
		footer:           l.footer.Load(),
		info: SessionInfo{
			ID:       l.srv.queue.NewID(),
			Local:    local,
			Listener: l.cfg.Name,
			Kind:     l.cfg.Kind,
			Client:   client,
			TLS:      l.cfg.Kind == config.KindSubmissions,
			// For the stages; the relay checks ask relay_networks as it
			// is at each command, a reload's included.
			RelayClient: l.srv.mayRelay(client.Addr()),
		},
	}
}

// plainSMTP reports whether the Received field says "with SMTP" (RFC
// 3848): XCLIENT's PROTO, else whether the client greeted with HELO.
func (c *conn) plainSMTP(sc *smtp.Conn) bool {
	if c.xproto != "" {
		return c.xproto == "SMTP"
	}
	return !sc.Extended()
}

// connOf finds the conn under go-smtp's connection, TLS or not.
func connOf(sc *smtp.Conn) *conn {
	nc := sc.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*conn)
	return c
}

// Close untracks the connection and closes the socket, the first time
// after a linger (see linger).
func (c *conn) Close() error {
	first := false
	c.once.Do(func() {
		first = true
		c.endWaits()
		// The session is over: its max_connections slot is free while
		// the socket lingers.
		c.srv.untrack(c)
	})
	if first {
		c.linger()
	}
	return c.Conn.Close()
}

// abort closes a connection that is not served, untracked at once and
// without linger: nothing was written that the peer must still read.
func (c *conn) abort() {
	c.once.Do(func() {
		c.endWaits()
		c.srv.untrack(c)
	})
	_ = c.Conn.Close()
}

// Bounds of linger: a client that neither closes nor stops sending gets
// its connection reset after them.
const (
	lingerTime  = time.Second
	lingerBytes = 1 << 20
)

// linger ends the sending side and reads and drops what the client still
// sends, until it closes too or lingerTime has passed. A socket closed
// with input unread is reset, and a reset discards what the client has
// not read yet: a client that pipelined commands (RFC 2920) past a reply
// that ends the session (421 at max_errors, the 221 to QUIT) lost that
// reply and saw "connection reset" instead. The same problem of TCP and
// the same cure as HTTP's (RFC 9112 §9.6, "lingering close").
func (c *conn) linger() {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok || tc.CloseWrite() != nil {
		return
	}
	_ = tc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, tc, lingerBytes)
}

// beginTxn marks a transaction open and counts it; it reports false once
// Shutdown has begun, when no new transaction may start.
func (c *conn) beginTxn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.inTxn = true
	c.nMsgs++
	return true
}

// messages is the number of transactions opened on the connection.
func (c *conn) messages() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nMsgs
}

// countError counts one refusal and returns the count so far, once the
// error tarpit has held its reply back (tarpit). Counts survive STARTTLS:
// they belong to the connection. No lock may be held: the wait may last.
// A command that makes two errors (an XCLIENT refused past
// max_junk_commands: junk, then refused) has its reply held back once,
// at the first, as Postfix sleeps once a reply.
func (c *conn) countError() int {
	c.mu.Lock()
	c.nErrs++
	n, again := c.nErrs, c.errCounted
	c.errCounted = true
	c.mu.Unlock()
	if !again {
		c.tarpit(n, true)
	}
	return n
}

// countJunk counts one command that moved no transaction forward and
// returns the count since the last queued message.
func (c *conn) countJunk() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nJunk++
	return c.nJunk
}

// delivered notes a queued message and forgives the connection's errors
// and junk commands so far, as Postfix does after each message it queues:
// a relay sending message after message on one connection, each with a
// recipient refused or the odd NOOP or RSET between them, is working,
// not probing (a relay_networks client has no max_messages_per_connection).
func (c *conn) delivered() {
	c.mu.Lock()
	c.nJunk, c.nErrs, c.tarpitted = 0, 0, false
	c.mu.Unlock()
}

// endTxn marks the transaction over; during Shutdown the session then ends.
func (c *conn) endTxn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inTxn = false
	if c.closing {
		c.sayGoodbye()
	}
}

// endSession is endTxn for a session that is over: its last reply is
// out (the 221 to QUIT, a 421 or 521 that ends it, a timeout's 421) and
// the connection closes, or STARTTLS hands the connection to a session
// under TLS. Shutdown's 421 is not written then: it would be a second
// reply to the client's last command (RFC 5321 §4.2). Reading still
// stops, which ends the session under TLS.
func (c *conn) endSession() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inTxn = false
	if c.closing && !c.saidGoodbye {
		c.saidGoodbye = true
		c.closeAs(metrics.CloseShutdown) // a session under TLS after STARTTLS ends here
		c.stopReading()
	}
}

// drain is Shutdown's notice: an idle session ends now, one in a
// transaction at endTxn; a tarpit wait ends now, and none follows.
func (c *conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	c.endWaits()
	if !c.inTxn {
		c.sayGoodbye()
	}
}

// sayGoodbye tells the client the server is shutting down and ends the
// session: RFC 5321 §3.8 has a server answer 421 before it closes. go-smtp
// has written its last reply and waits for the next command; its reads
// then see the end of the stream, and it ends the session quietly.
func (c *conn) sayGoodbye() {
	if c.saidGoodbye {
		return // a Reset of a command read before reading stopped comes here again
	}
	c.saidGoodbye = true
	c.closeAs(metrics.CloseShutdown)
	if c.teased {
		// A 421 cannot follow a 220- line (RFC 5321 §4.2.1): the pause,
		// woken by the end of its read, ends the greeting and says it.
		c.stopReading()
		return
	}
	if !c.tls && !c.info.TLS {
		// Under TLS this socket carries records: a clear-text line would
		// break the stream, so the client sees the close alone.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c.Conn, c.wire(&reply.ShuttingDown))
		c.noticeOut = true
	}
	c.stopReading()
}

// encrypted marks TLS as running over the connection. Called at the
// handshake (serverTLS), by admit before go-smtp has the connection or
// on the session's goroutine, and by NewSession.
func (c *conn) encrypted() {
	c.mu.Lock()
	first := !c.tls
	c.tls = true
	c.mu.Unlock()
	// STARTTLS ends a run of XCLIENTs: one after it starts afresh, what
	// came before TLS forgotten (RFC 3207 §4.2).
	c.xclientOpen = false
	if first {
		// Once, at the handshake: NewSession's call comes at every EHLO
		// under TLS, after an XCLIENT sent under TLS too.
		c.xclientStartTLS()
	}
}

// stopReading makes go-smtp's next read see the end of stream, so it ends
// the session by itself once it has answered what it already read. Unlike
// a read deadline, go-smtp cannot undo it before its next command.
func (c *conn) stopReading() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.CloseRead()
		return
	}
	_ = c.Conn.Close()
}
