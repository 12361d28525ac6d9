package smtpd

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
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

	mu      sync.Mutex
	inTxn   bool // between an accepted MAIL and the end of the transaction
	closing bool // Shutdown has begun
	nMsgs   int  // transactions opened, for max_messages_per_connection
	nErrs   int  // refusals, for max_errors
}

func newConn(l *listener, raw net.Conn) *conn {
	var client netip.AddrPort
	if ta, ok := raw.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	var local netip.AddrPort
	if ta, ok := raw.LocalAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return &conn{
		Conn: raw,
		srv:  l.srv,
		l:    l,
		info: SessionInfo{
			ID:       l.srv.queue.NewID(),
			Local:    local,
			Listener: l.cfg.Name,
			Kind:     l.cfg.Kind,
			Client:   client,
			TLS:      l.cfg.Kind == config.KindSubmissions,
		},
	}
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

// Read reports the client's end of stream as io.ErrUnexpectedEOF: go-smtp
// copies a BDAT chunk with io.Copy, which takes io.EOF for a complete
// chunk, so a client gone mid-chunk would have its truncated message
// queued. go-smtp answers a lost connection with a 421 (RFC 5321 §3.8) and
// closes it; at Shutdown that is the notice idle clients get.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close closes the socket and untracks the connection, once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.srv.untrack(c) })
	return err
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

// countError counts one refusal and returns the count so far. Counts
// survive STARTTLS: they belong to the connection.
func (c *conn) countError() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nErrs++
	return c.nErrs
}

// endTxn marks the transaction over; during Shutdown the session then ends.
func (c *conn) endTxn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inTxn = false
	if c.closing {
		c.stopReading()
	}
}

// drain is Shutdown's notice: an idle session ends now, one in a
// transaction at endTxn.
func (c *conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	if !c.inTxn {
		c.stopReading()
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
