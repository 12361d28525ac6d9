package smtpd

import (
	"errors"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
)

// Why a connection ended is counted in
// sluice_smtp_connections_closed_total by reason (metrics.CloseReason),
// so that an operator can alert on clients being cut off — a stage's
// 421s, timeouts, the error limit, a failing TLS certificate — without
// reading the log. The first reason noted for a connection (closeAs) is
// the one counted when it closes (untrack): a decision that ends the
// session is noted where it is made, before its reply is written, and
// whatever follows (the client's QUIT after a 554 greeting, the end of
// reading Shutdown causes) notes nothing more. What the client does is
// seen on the socket: a read or write that fails (Read, Write), the 221
// go-smtp answers QUIT with (noteReply), a failed STARTTLS go-smtp tells
// of (startTLSFailed). A connection closed with no
// reason noted was closed by its client: under TLS the close_notify
// alert that ends the stream is read as data, so the socket's read does
// not fail.

// closeAs notes why the connection ends, unless a reason was noted
// before: the first one is the connection's.
func (c *conn) closeAs(r metrics.CloseReason) {
	c.closedBy.CompareAndSwap(nil, &r)
}

// closeReason is the reason the connection's close is counted under.
func (c *conn) closeReason() metrics.CloseReason {
	if r := c.closedBy.Load(); r != nil {
		return *r
	}
	return metrics.CloseHangup
}

// Read is the socket's Read, noting why a read failed: a timeout ends
// the session with 421 4.4.2 (command_timeout, data_timeout,
// min_data_rate: go-smtp's deadlines), the end of the stream or a reset
// is the client gone. A read Sluice made fail (its own close, or the
// end of reading Shutdown's notice causes) has its reason already. The
// greeting's pause (greet_pause) reads with a deadline it expects to
// pass, which is no timeout of the session's.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !(c.pausing && isTimeout(err)) {
		c.failed(err)
	}
	return n, err
}

// Write is the socket's Write, noting why a write failed, as Read does:
// a client that does not read its replies runs into the write deadline.
func (c *conn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.failed(err)
	}
	return n, err
}

// failed notes the reason of a read or write that failed with err.
func (c *conn) failed(err error) {
	switch {
	case errors.Is(err, net.ErrClosed):
		// Closed here, by whatever noted its reason.
	case isTimeout(err):
		c.closeAs(metrics.CloseTimeout)
	default:
		c.closeAs(metrics.CloseHangup)
	}
}

// goSMTPClosing are the replies after which go-smtp closes the connection
// on a command it cannot take (third_party/go-smtp conn.go: readError,
// handleBdat), by their text: nothing else tells them from a reply that
// leaves the session open. A stage's reply of the same text was noted
// as the stage's first (countRefusal). TestConnectionsClosedProtocol
// fails if go-smtp's text changes.
var goSMTPClosing = map[string]bool{
	"Too long line, closing connection":                            true,
	"Authentication Exchange line is too long, closing connection": true,
	"Max message size exceeded, closing connection":                true,
	"Malformed size argument, closing connection":                  true,
	"Missing chunk size argument, closing connection":              true,
}

// goSMTPPanic is the text of go-smtp's 421 4.0.0 after it recovered a
// panic of the session's (third_party/go-smtp conn.go handle, errPanic),
// which it follows with a close: Sluice's bug, not the client's hang-up.
// A stage's 421 of the same text was noted as the stage's first.
const goSMTPPanic = "Internal server error"

// noteReply is the close reason's part of go-smtp's reply hooks: the 221
// to QUIT, and go-smtp's own replies that close the connection.
func (c *conn) noteReply(code int, lines []string) {
	switch {
	case code == 221: // only QUIT's (RFC 5321 §4.1.1.10)
		c.closeAs(metrics.CloseQuit)
	case code < 400 || len(lines) != 1:
		// None of go-smtp's closing replies: the normal path, no lookup.
	case goSMTPClosing[lines[0]]:
		c.closeAs(metrics.CloseProtocol)
	case code == 421 && lines[0] == goSMTPPanic:
		c.closeAs(metrics.CloseInternal)
	}
}

// closesSession reports whether go-smtp closes the connection after a
// session's reply r (soft_bounce makes a 521 a 421, which closes too):
// 421 (RFC 5321 §3.8) and 521 (RFC 7504 §3).
func closesSession(r *reply.Reply) bool { return r.Code == 421 || r.Code == 521 }

// startTLSFailed is go-smtp's StartTLSFailed: a STARTTLS handshake
// failed after the 220 (RFC 3207 §4.2), and go-smtp closes the
// connection. Told on the connection itself: its log line names it only
// by the peer's address, which two connections can share. A client that
// left or stalled in the handshake noted its reason first (Read).
func (s *Server) startTLSFailed(sc *smtp.Conn, _ error) {
	if c := connOf(sc); c != nil {
		c.closeAs(metrics.CloseTLS)
	}
}
