package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"
)

var ErrServerClosed = errors.New("smtp: server already closed")

// Logger interface is used by Server to report unexpected internal errors.
type Logger interface {
	Printf(format string, v ...interface{})
	Println(v ...interface{})
}

// A SMTP server.
type Server struct {
	// ReplyCode, when set, may change the code and enhanced code of every
	// reply the server writes, its own and the session's, just before it
	// goes out (Sluice's soft_bounce turns 5xx into 4xx there, as
	// Postfix's smtpd_chat_reply does). Added in Sluice's copy (SLUICE.md).
	ReplyCode func(c *Conn, code int, enhCode EnhancedCode) (int, EnhancedCode)

	// ReplyLines, when set, may change the text lines of every reply the
	// server writes, its own and the session's, after ReplyCode, given
	// the code and enhanced code they go out with (Sluice's
	// reject_footer adds lines there, as Postfix's smtpd_chat_reply
	// does). Added in Sluice's copy (SLUICE.md).
	ReplyLines func(c *Conn, code int, enhCode EnhancedCode, lines []string) []string

	// Greeting, when set, is the text after Domain in the 220 greeting
	// (and in the one XCLIENT answers with); "" greets with Domain
	// alone. Nil: "ESMTP Service Ready" ("LMTP Service Ready" for LMTP).
	// Added in Sluice's copy (SLUICE.md).
	Greeting func(c *Conn) string

	// ConnErrorCounter, when set, does for a connection with no session
	// yet (before HELO/EHLO) what a Session's ErrorCounter does: it is
	// called for each error reply the server gives on its own, and a
	// non-nil reply replaces it and closes the connection. Added in
	// Sluice's copy (SLUICE.md).
	ConnErrorCounter func(c *Conn, code int, enhCode EnhancedCode, msg string) *SMTPError

	// JunkCommand, when set, is called with each NOOP, RSET, VRFY, HELP,
	// EXPN, SEND, SOML, SAML and TURN (the verb upper case) before it is
	// answered, with or without a session, and with a HELO, EHLO or LHLO
	// given when a session exists (the first after STARTTLS is not one,
	// RFC 3207 §4.2): commands that move no
	// transaction forward, which a client can otherwise send without end
	// to hold a connection. A non-nil reply is written in the command's
	// place and the connection closed. Added in Sluice's copy (SLUICE.md).
	JunkCommand func(c *Conn, cmd string) *SMTPError

	// TLSRequired, when set, is asked on a connection not under TLS
	// before MAIL, RCPT, DATA, BDAT, AUTH, VRFY and EXPN: true answers
	// them "530 5.7.0 Must issue a STARTTLS command first" (RFC 3207 §4),
	// a protocol error (ErrorCounter, ConnErrorCounter). A BDAT chunk is
	// read and dropped first. Added in Sluice's copy (SLUICE.md).
	TLSRequired func(c *Conn) bool

	// OutOfTurn, when set, is asked before each command after which the
	// client must wait for the reply (RFC 2920 §3.1, RFC 5321 §4.1.4):
	// one that ends a pipelined group (HELO, EHLO, LHLO, DATA, VRFY,
	// EXPN, TURN, NOOP), and any command where PIPELINING was not
	// offered (before EHLO or LHLO, after HELO); never before an
	// unknown command or an empty line, which runs nothing. ahead is the
	// input already read past the command line, often none, valid only
	// during the call. A non-nil reply is written in the command's place,
	// the command is not run and the connection closes. Added in
	// Sluice's copy (pipelining.go).
	OutOfTurn func(c *Conn, cmd string, ahead []byte) *SMTPError

	// StartTLSFailed, when set, is told of a STARTTLS handshake that
	// failed (after the 220, RFC 3207 §4.2), with its error, before the
	// connection is closed: ErrorLog's line names the connection only by
	// its peer's address, which two connections can share (a proxy's to
	// two listeners). Added in Sluice's copy (SLUICE.md).
	StartTLSFailed func(c *Conn, err error)

	// BareLFCommand, when set, is asked about each command line that
	// ended in a bare LF rather than CRLF (RFC 5321 §2.3.8), line without
	// its LF, before the line is parsed or anything else is asked. Nil:
	// the line is run as if it ended in CRLF, as in v0.25.1. A non-nil
	// reply is written in the command's place and the command is not run;
	// after a 421 or 521 the connection closes, after any other the reply
	// is a protocol error (ErrorCounter, ConnErrorCounter) and the next
	// command is read; a refused BDAT's chunk is read and dropped first
	// and the transaction reset (without a size, the connection closes).
	// AUTH's response lines are not asked about. Added in Sluice's copy
	// (SLUICE.md).
	BareLFCommand func(c *Conn, line string) *SMTPError

	// NonSMTPCommand, when set, is asked about each command line that is
	// no SMTP command at all (line without its line end, before it is
	// parsed): one whose first word is CONNECT, GET or POST, an HTTP
	// request, or a header field's name and colon ("Subject:"), a message
	// sent as commands. A non-nil reply is written in its place and the
	// connection closed; nil answers it as any unknown command. Added in
	// Sluice's copy (nonsmtp.go, SLUICE.md).
	NonSMTPCommand func(c *Conn, line string) *SMTPError

	// Limits, when set, is asked at each EHLO (LHLO) for the LIMITS
	// parameter to advertise (RFC 9422, "RCPTMAX=100 MAILMAX=10"), ""
	// for none, in place of the RCPTMAX that MaxRecipients advertises:
	// limits the backend enforces itself, with replies of its own. Added
	// in Sluice's copy (SLUICE.md).
	Limits func(c *Conn) string

	// The type of network, "tcp" or "unix".
	Network string
	// TCP or Unix address to listen on.
	Addr string
	// The server TLS configuration.
	TLSConfig *tls.Config
	// Enable LMTP mode, as defined in RFC 2033.
	LMTP bool

	Domain            string
	MaxRecipients     int
	MaxMessageBytes   int64
	MaxLineLength     int
	AllowInsecureAuth bool
	Debug             io.Writer
	ErrorLog          Logger
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration

	// DataTimeout, when set, is the read deadline of message data, DATA's
	// and each BDAT chunk's, renewed at each read: it bounds the wait for
	// progress (RFC 5321 §4.5.3.2.6), however long the message. Zero: the
	// data is read under the deadline of its command line, ReadTimeout, as
	// in v0.25.1. The wait for the command after a BDAT chunk is a wait for
	// a command line, under ReadTimeout either way. Added in Sluice's copy
	// (SLUICE.md).
	DataTimeout time.Duration

	// MinDataRate, when above zero and with DataTimeout set, is the
	// slowest a client may send a message's data, in bytes a second: the
	// message, DATA's or its BDAT chunks' together, has DataTimeout to
	// spend waiting for data, and each read earns its bytes over
	// MinDataRate back, up to DataTimeout (Postfix 3.7's
	// smtpd_min_data_rate). Past it the client gets 421 4.4.2 and the
	// connection is closed. Added in Sluice's copy (datarate.go).
	MinDataRate int64

	// Advertise SMTPUTF8 (RFC 6531) capability.
	// Should be used only if backend supports it.
	EnableSMTPUTF8 bool

	// Advertise REQUIRETLS (RFC 8689) capability.
	// Should be used only if backend supports it.
	EnableREQUIRETLS bool

	// Advertise BINARYMIME (RFC 3030) capability.
	// Should be used only if backend supports it.
	EnableBINARYMIME bool

	// Advertise DSN (RFC 3461) capability.
	// Should be used only if backend supports it.
	EnableDSN bool

	// Advertise RRVS (RFC 7293) capability.
	// Should be used only if backend supports it.
	EnableRRVS bool

	// Advertise DELIVERBY (RFC 2852) capability.
	// Should be used only if backend supports it.
	EnableDELIVERBY bool
	// The minimum time, with seconds precision, that a client
	// may specify in the BY argument with return mode.
	// A zero value indicates no set minimum.
	// Only use if DELIVERBY is enabled.
	MinimumDeliverByTime time.Duration

	// Advertise MT-PRIORITY (RFC 6710) capability.
	// Should only be used if backend supports it.
	EnableMTPRIORITY bool
	// The priority profile mapping as defined
	// in RFC 6710 section 10.2.
	//
	// Default value of NONE to advertise no specific profile.
	MtPriorityProfile PriorityProfile

	// The server backend.
	Backend Backend

	wg   sync.WaitGroup
	done chan struct{}

	locker    sync.Mutex
	listeners []net.Listener
	conns     map[*Conn]struct{}
}

// New creates a new SMTP server.
func NewServer(be Backend) *Server {
	return &Server{
		// Doubled maximum line length per RFC 5321 (Section 4.5.3.1.6)
		MaxLineLength: 2000,

		Backend:  be,
		done:     make(chan struct{}, 1),
		ErrorLog: log.New(os.Stderr, "smtp/server ", log.LstdFlags),
		conns:    make(map[*Conn]struct{}),
	}
}

// Serve accepts incoming connections on the Listener l.
func (s *Server) Serve(l net.Listener) error {
	s.locker.Lock()
	s.listeners = append(s.listeners, l)
	s.locker.Unlock()

	var tempDelay time.Duration // how long to sleep on accept failure

	for {
		c, err := l.Accept()
		if err != nil {
			select {
			case <-s.done:
				// we called Close()
				return nil
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Temporary() {
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else {
					tempDelay *= 2
				}
				if max := 1 * time.Second; tempDelay > max {
					tempDelay = max
				}
				s.ErrorLog.Printf("accept error: %s; retrying in %s", err, tempDelay)
				time.Sleep(tempDelay)
				continue
			}
			return err
		}

		s.wg.Add(1)
		go func() {
			defer s.wg.Done()

			err := s.handleConn(newConn(c, s))
			if err != nil {
				s.ErrorLog.Printf("error handling %v: %s", c.RemoteAddr(), err)
			}
		}()
	}
}

func (s *Server) handleConn(c *Conn) error {
	s.locker.Lock()
	s.conns[c] = struct{}{}
	s.locker.Unlock()

	defer func() {
		c.Close()

		s.locker.Lock()
		delete(s.conns, c)
		s.locker.Unlock()
	}()

	if tlsConn, ok := c.conn.(*tls.Conn); ok {
		if d := s.ReadTimeout; d != 0 {
			c.conn.SetReadDeadline(time.Now().Add(d))
		}
		if d := s.WriteTimeout; d != 0 {
			c.conn.SetWriteDeadline(time.Now().Add(d))
		}
		if err := tlsConn.Handshake(); err != nil {
			return err
		}
	}

	c.greet()

	for {
		line, bareLF, err := c.readCommandLine()
		if err == nil {
			if bareLF && c.refuseBareLF(line) {
				continue // a closed connection fails the next read
			}
			if c.refuseNonSMTP(line) {
				return nil
			}
			cmd, arg, err := parseCmd(line)
			if err != nil {
				// Not even a verb: a command not recognized, 500
				// (RFC 5321 §4.2.4), as Postfix answers any line that
				// is no command of its (v0.25.1: 501 Bad command, a
				// syntax error in the arguments).
				c.commandError(500, EnhancedCode{5, 5, 2}, "Syntax error, command unrecognized")
				continue
			}

			if c.outOfTurn(cmd) {
				return nil
			}
			c.handle(cmd, arg)
		} else {
			return c.readError(err, idleTimeoutMsg)
		}
	}
}

func (s *Server) network() string {
	if s.Network != "" {
		return s.Network
	}
	if s.LMTP {
		return "unix"
	}
	return "tcp"
}

// ListenAndServe listens on the network address s.Addr and then calls Serve
// to handle requests on incoming connections.
//
// If s.Addr is blank and LMTP is disabled, ":smtp" is used.
func (s *Server) ListenAndServe() error {
	network := s.network()

	addr := s.Addr
	if !s.LMTP && addr == "" {
		addr = ":smtp"
	}

	l, err := net.Listen(network, addr)
	if err != nil {
		return err
	}

	return s.Serve(l)
}

// ListenAndServeTLS listens on the TCP network address s.Addr and then calls
// Serve to handle requests on incoming TLS connections.
//
// If s.Addr is blank and LMTP is disabled, ":smtps" is used.
func (s *Server) ListenAndServeTLS() error {
	network := s.network()

	addr := s.Addr
	if !s.LMTP && addr == "" {
		addr = ":smtps"
	}

	l, err := tls.Listen(network, addr, s.TLSConfig)
	if err != nil {
		return err
	}

	return s.Serve(l)
}

// Close immediately closes all active listeners and connections.
//
// Close returns any error returned from closing the server's underlying
// listener(s).
func (s *Server) Close() error {
	select {
	case <-s.done:
		return ErrServerClosed
	default:
		close(s.done)
	}

	var err error
	s.locker.Lock()
	for _, l := range s.listeners {
		if lerr := l.Close(); lerr != nil && err == nil {
			err = lerr
		}
	}

	for conn := range s.conns {
		conn.Close()
	}
	s.locker.Unlock()

	return err
}

// Shutdown gracefully shuts down the server without interrupting any
// active connections. Shutdown works by first closing all open
// listeners and then waiting indefinitely for connections to return to
// idle and then shut down.
// If the provided context expires before the shutdown is complete,
// Shutdown returns the context's error, otherwise it returns any
// error returned from closing the Server's underlying Listener(s).
func (s *Server) Shutdown(ctx context.Context) error {
	select {
	case <-s.done:
		return ErrServerClosed
	default:
		close(s.done)
	}

	var err error
	s.locker.Lock()
	for _, l := range s.listeners {
		if lerr := l.Close(); lerr != nil && err == nil {
			err = lerr
		}
	}
	s.locker.Unlock()

	connDone := make(chan struct{})
	go func() {
		defer close(connDone)
		s.wg.Wait()
	}()

	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-connDone:
		return err
	}
}
