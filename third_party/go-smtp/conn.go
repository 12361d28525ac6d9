package smtp

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"math"
	"net"
	"net/textproto"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// Number of errors we'll tolerate per connection before closing. Defaults to 3.
const errThreshold = 3

type Conn struct {
	conn   net.Conn
	text   *textproto.Conn
	server *Server
	helo   string
	// extended: the client greeted with EHLO (or LHLO), not HELO.
	extended bool

	// Number of errors witnessed on this connection
	errCount int
	// noRcptRefused: this transaction's DATA or BDAT was refused for
	// want of a recipient, and counted once (refuseWithoutRecipients).
	noRcptRefused bool

	session Session
	// xclientSession is the session of an XCLIENT sent before EHLO
	// while that command runs (handleXClient): its refusals are counted
	// by it, as a session's are, not by ConnErrorCounter.
	xclientSession Session
	locker         sync.Mutex
	binarymime     bool

	bdatPipe      *io.PipeWriter
	bdatStatus    *statusCollector // used for BDAT on LMTP
	dataResult    chan error
	bytesReceived int64 // counts total size of chunks when BDAT is used

	// The message's balance of time to wait for its data, from the start
	// of the current read (dataWait), and whether that read's deadline
	// is the balance (datarate.go).
	dataLeft  time.Duration
	dataWait  time.Time
	dataRated bool

	fromReceived bool
	recipients   []string
	didAuth      bool
}

func newConn(c net.Conn, s *Server) *Conn {
	sc := &Conn{
		server: s,
		conn:   c,
	}

	sc.init()
	return sc
}

func (c *Conn) init() {
	// MaxLineLength limits command lines, in readLine. Sluice change:
	// v0.25.1 counted every byte read from the socket under it, BDAT
	// chunks and DATA included, so a pipelined BDAT whose chunk came in
	// the same read as its command, with a long text line, was cut off as
	// a long command line.
	rwc := struct {
		io.Reader
		io.Writer
		io.Closer
	}{
		Reader: c.conn,
		Writer: c.conn,
		Closer: c.conn,
	}

	if c.server.Debug != nil {
		rwc = struct {
			io.Reader
			io.Writer
			io.Closer
		}{
			io.TeeReader(rwc.Reader, c.server.Debug),
			io.MultiWriter(rwc.Writer, c.server.Debug),
			rwc.Closer,
		}
	}

	c.text = textproto.NewConn(rwc)
}

// Commands are dispatched to the appropriate handler functions.
func (c *Conn) handle(cmd string, arg string) {
	// If panic happens during command handling - send 421 response
	// and close connection.
	defer func() {
		if err := recover(); err != nil {
			c.writeResponse(421, EnhancedCode{4, 0, 0}, "Internal server error")
			c.Close()

			stack := debug.Stack()
			c.server.ErrorLog.Printf("panic serving %v: %v\n%s", c.conn.RemoteAddr(), err, stack)
		}
	}()

	if cmd == "" {
		c.commandError(500, EnhancedCode{5, 5, 2}, "Error: bad syntax")
		return
	}

	cmd = strings.ToUpper(cmd)
	if cmd != "BDAT" && needsTLS[cmd] && c.refuseInClear() {
		return // before the junk count: refused, it is an error instead
	}
	greeting := cmd == "HELO" || cmd == "EHLO" || cmd == "LHLO"
	if (junkCommands[cmd] || greeting && c.Session() != nil) && c.junkCommand(cmd) {
		return
	}
	switch cmd {
	case "SEND", "SOML", "SAML", "EXPN", "HELP", "TURN":
		// These commands are not implemented in any state
		c.writeResponse(502, EnhancedCode{5, 5, 1}, fmt.Sprintf("%v command not implemented", cmd))
	case "HELO", "EHLO", "LHLO":
		lmtp := cmd == "LHLO"
		enhanced := lmtp || cmd == "EHLO"
		if c.server.LMTP && !lmtp {
			c.protocolError(500, EnhancedCode{5, 5, 1}, "This is a LMTP server, use LHLO")
			return
		}
		if !c.server.LMTP && lmtp {
			c.protocolError(500, EnhancedCode{5, 5, 1}, "This is not a LMTP server")
			return
		}
		c.handleGreet(cmd, enhanced, arg)
	case "MAIL":
		c.handleMail(arg)
	case "RCPT":
		c.handleRcpt(arg)
	case "VRFY":
		// RFC 5321 §4.1.1.6: "vrfy = "VRFY" SP String CRLF", the argument
		// is required, so none is a syntax error in the arguments (501,
		// §4.2.4), as Postfix answers it. Sluice change: v0.25.1 said 252.
		if arg == "" {
			c.protocolError(501, EnhancedCode{5, 5, 4}, "Syntax: VRFY address")
			return
		}
		c.writeResponse(252, EnhancedCode{2, 5, 0}, "Cannot VRFY user, but will accept message")
	case "NOOP":
		c.writeResponse(250, EnhancedCode{2, 0, 0}, "I have successfully done nothing")
	case "RSET": // Reset session
		// RFC 5321 §4.1.1.5: "rset = "RSET" CRLF", no argument; 501 for
		// one (§4.2.4). v0.25.1 ignored it.
		if arg != "" {
			c.protocolError(501, EnhancedCode{5, 5, 4}, "RSET command should not have any arguments")
			return
		}
		c.reset()
		c.writeResponse(250, EnhancedCode{2, 0, 0}, "Session reset")
	case "BDAT":
		c.handleBdat(arg)
	case "DATA":
		c.handleData(arg)
	case "QUIT":
		c.writeResponse(221, EnhancedCode{2, 0, 0}, "Bye")
		c.Close()
	case "AUTH":
		c.handleAuth(arg)
	case "STARTTLS":
		c.handleStartTLS(arg)
	case "XCLIENT":
		c.handleXClient(arg)
	default:
		// parseCmd takes a verb of any length: the echo is kept short,
		// as a reply line has at most 512 octets (RFC 5321 §4.5.3.1.5).
		if len(cmd) > maxVerbEcho {
			cmd = cmd[:maxVerbEcho] + "..."
		}
		msg := fmt.Sprintf("Syntax errors, %v command unrecognized", cmd)
		c.commandError(500, EnhancedCode{5, 5, 2}, msg)
	}
}

// needsTLS are the commands Server.TLSRequired refuses in the clear: those
// of a mail transaction, those that give something away (AUTH, VRFY,
// EXPN) and XCLIENT, whose client and LOGIN would otherwise be taken in
// the clear and outlive STARTTLS. EHLO, STARTTLS, NOOP and QUIT stay
// allowed, as RFC 3207 §4 has it, and HELO, as Postfix allows it
// (SMTPD_CMD_FLAG_PRE_TLS), so that a client can greet, start TLS and
// leave. RSET and HELP are answered too, where the RFC would have 530
// (a SHOULD) and Postfix answers RSET 530: neither takes anything in nor
// gives anything away.
var needsTLS = map[string]bool{
	"MAIL": true, "RCPT": true, "DATA": true, "BDAT": true,
	"AUTH": true, "VRFY": true, "EXPN": true, "XCLIENT": true,
}

// refuseInClear answers 530 and reports true when Server.TLSRequired
// wants TLS and the connection has none.
func (c *Conn) refuseInClear() bool {
	f := c.server.TLSRequired
	if f == nil {
		return false
	}
	if _, isTLS := c.TLSConnectionState(); isTLS || !f(c) {
		return false
	}
	c.protocolError(530, EnhancedCode{5, 7, 0}, "Must issue a STARTTLS command first")
	return true
}

// junkCommands are the commands that move no transaction forward, which
// Server.JunkCommand sees: NOOP, RSET, VRFY and XCLIENT (Postfix's
// "junk" commands), and those answered 502. A greeting that repeats one (a
// session exists) is shown to it too: it only resets, as RSET does.
var junkCommands = map[string]bool{
	"NOOP": true, "RSET": true, "VRFY": true, "XCLIENT": true,
	"SEND": true, "SOML": true, "SAML": true, "EXPN": true, "HELP": true, "TURN": true,
}

// junkCommand reports cmd to Server.JunkCommand before it is answered; it
// returns true when the reply it got was written in cmd's place and the
// connection closed. Sluice change: v0.25.1 answered these commands
// without telling anyone, so a client could send them without end.
func (c *Conn) junkCommand(cmd string) bool {
	f := c.server.JunkCommand
	if f == nil {
		return false
	}
	r := f(c, cmd)
	if r == nil {
		return false
	}
	c.writeResponse(r.Code, r.EnhancedCode, r.Message)
	c.Close()
	return true
}

func (c *Conn) Server() *Server {
	return c.server
}

func (c *Conn) Session() Session {
	c.locker.Lock()
	defer c.locker.Unlock()
	return c.session
}

func (c *Conn) setSession(session Session) {
	c.locker.Lock()
	defer c.locker.Unlock()
	c.session = session
}

func (c *Conn) Close() error {
	c.locker.Lock()
	defer c.locker.Unlock()

	if c.bdatPipe != nil {
		c.bdatPipe.CloseWithError(ErrDataReset)
		c.bdatPipe = nil
	}

	if c.session != nil {
		c.session.Logout()
		c.session = nil
	}

	return c.conn.Close()
}

// TLSConnectionState returns the connection's TLS connection state.
// Zero values are returned if the connection doesn't use TLS.
func (c *Conn) TLSConnectionState() (state tls.ConnectionState, ok bool) {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return
	}
	return tc.ConnectionState(), true
}

// Extended reports whether the client greeted with EHLO (or LHLO) rather
// than HELO: RFC 3848's "SMTP" versus "ESMTP" in a Received field.
func (c *Conn) Extended() bool {
	return c.extended
}

func (c *Conn) Hostname() string {
	return c.helo
}

func (c *Conn) Conn() net.Conn {
	return c.conn
}

func (c *Conn) authAllowed() bool {
	_, isTLS := c.TLSConnectionState()
	return isTLS || c.server.AllowInsecureAuth
}

// commandError answers a command that is not one: unknown or unparsable.
// It is a protocolError that the server's own limit counts too, for a
// session that is not an ErrorCounter (go-smtp v0.25.1's only count).
func (c *Conn) commandError(code int, ec EnhancedCode, msg string) {
	c.reportError(code, ec, msg, true)
}

// protocolError answers an error the server finds itself — a malformed
// command, one out of sequence, a bad argument — and reports it to an
// ErrorCounter session, which may end the connection. Sluice change:
// v0.25.1 counted only unknown commands, against a fixed limit of its own.
// The caller must return after it: the connection may be closed.
func (c *Conn) protocolError(code int, ec EnhancedCode, msg string) {
	c.reportError(code, ec, msg, false)
}

func (c *Conn) reportError(code int, ec EnhancedCode, msg string, unknown bool) {
	var count func(int, EnhancedCode, string) *SMTPError
	session := c.Session()
	if session == nil {
		session = c.xclientSession
	}
	if counter, ok := session.(ErrorCounter); ok {
		count = counter.ProtocolError
	} else if f := c.server.ConnErrorCounter; f != nil && c.Session() == nil {
		count = func(code int, ec EnhancedCode, msg string) *SMTPError { return f(c, code, ec, msg) }
	}
	if count != nil {
		// The counter's reply, when it has one, replaces the error's:
		// one reply per command, as for the errors a session returns.
		if r := count(code, ec, msg); r != nil {
			c.writeResponse(r.Code, r.EnhancedCode, r.Message)
			c.Close()
			return
		}
		c.writeResponse(code, ec, msg)
		return
	}

	c.writeResponse(code, ec, msg)
	if !unknown {
		return
	}
	c.errCount++
	if c.errCount > errThreshold {
		c.writeResponse(500, EnhancedCode{5, 5, 1}, "Too many errors. Quiting now")
		c.Close()
	}
}

// maxVerbEcho is the longest unknown verb a reply echoes whole.
const maxVerbEcho = 32

// maxDomainLength is the longest HELO, EHLO or LHLO argument, in octets
// (RFC 5321 §4.5.3.1.2).
const maxDomainLength = 255

// GREET state -> waiting for HELO. cmd is the greeting verb (HELO, EHLO or
// LHLO), named in the reply to one without its argument (Sluice change:
// v0.25.1 said HELO to all three).
func (c *Conn) handleGreet(cmd string, enhanced bool, arg string) {
	domain, err := parseHelloArgument(arg)
	if err != nil {
		c.protocolError(501, EnhancedCode{5, 5, 2}, "Domain/address argument required for "+cmd)
		return
	}
	if len(domain) > maxDomainLength {
		// A domain has at most 255 octets (RFC 5321 §4.5.3.1.2), and an
		// address literal fewer. Sluice change: v0.25.1 took any length
		// the line limit allowed and echoed it in the reply, a line of up
		// to MaxLineLength octets where RFC 5321 §4.5.3.1.5 allows 512.
		c.protocolError(501, EnhancedCode{5, 5, 2}, "Domain/address argument too long for "+cmd)
		return
	}
	// c.helo is populated before NewSession so
	// NewSession can access it via Conn.Hostname.
	c.helo = domain
	c.extended = enhanced

	// RFC 5321: "An EHLO command MAY be issued by a client later in the session"
	if c.session != nil {
		// RFC 5321: "... the SMTP server MUST clear all buffers
		// and reset the state exactly as if a RSET command has been issued."
		c.reset()
	} else {
		sess, err := c.server.Backend.NewSession(c)
		if err != nil {
			c.helo = ""
			c.writeError(451, EnhancedCode{4, 0, 0}, err)
			return
		}

		c.setSession(sess)
	}

	// RFC 5321 §4.1.1.1: the reply to HELO and EHLO begins with the
	// server's own domain; RFC 2034 §3 leaves HELO and EHLO replies without
	// an enhanced status code. v0.25.1 answered "Hello <client>", and with
	// 2.0.0 to HELO.
	hello := "Hello " + printableEcho(domain)
	if c.server.Domain != "" {
		hello = c.server.Domain + " " + hello
	}
	if !enhanced {
		c.writeResponse(250, NoEnhancedCode, hello)
		return
	}

	caps := []string{
		"PIPELINING",
		"8BITMIME",
		"ENHANCEDSTATUSCODES",
		"CHUNKING",
	}
	if _, isTLS := c.TLSConnectionState(); c.server.TLSConfig != nil && !isTLS {
		caps = append(caps, "STARTTLS")
	}
	if c.authAllowed() {
		mechs := c.authMechanisms()

		authCap := "AUTH"
		for _, name := range mechs {
			authCap += " " + name
		}

		if len(mechs) > 0 {
			caps = append(caps, authCap)
		}
	}
	if c.server.EnableSMTPUTF8 {
		caps = append(caps, "SMTPUTF8")
	}
	if _, isTLS := c.TLSConnectionState(); isTLS && c.server.EnableREQUIRETLS {
		caps = append(caps, "REQUIRETLS")
	}
	if c.server.EnableBINARYMIME {
		caps = append(caps, "BINARYMIME")
	}
	if c.server.EnableDSN {
		caps = append(caps, "DSN")
	}
	if attrs := xclientAttributes(c.Session()); len(attrs) > 0 {
		caps = append(caps, "XCLIENT "+strings.Join(attrs, " "))
	}
	if c.server.MaxMessageBytes > 0 {
		caps = append(caps, fmt.Sprintf("SIZE %v", c.server.MaxMessageBytes))
	} else {
		caps = append(caps, "SIZE")
	}
	if c.server.Limits != nil {
		if l := c.server.Limits(c); l != "" {
			caps = append(caps, "LIMITS "+l)
		}
	} else if c.server.MaxRecipients > 0 {
		caps = append(caps, fmt.Sprintf("LIMITS RCPTMAX=%v", c.server.MaxRecipients))
	}
	if c.server.EnableRRVS {
		caps = append(caps, "RRVS")
	}
	if c.server.EnableDELIVERBY {
		if c.server.MinimumDeliverByTime == 0 {
			caps = append(caps, "DELIVERBY")
		} else {
			caps = append(caps, fmt.Sprintf("DELIVERBY %d", int(c.server.MinimumDeliverByTime.Seconds())))
		}
	}
	if c.server.EnableMTPRIORITY {
		if c.server.MtPriorityProfile == PriorityUnspecified {
			caps = append(caps, "MT-PRIORITY")
		} else {
			caps = append(caps, fmt.Sprintf("MT-PRIORITY %s", c.server.MtPriorityProfile))
		}
	}

	args := []string{hello}
	args = append(args, caps...)
	c.writeResponse(250, NoEnhancedCode, args...)
}

// printableEcho is s with every byte outside printable ASCII replaced by
// '?', for echoing what the client sent in a reply: a control character
// in it (a CR or LF above all) would be written to the client raw.
func printableEcho(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch < ' ' || ch > '~' {
			b[i] = '?'
		}
	}
	return string(b)
}

// READY state -> waiting for MAIL
func (c *Conn) handleMail(arg string) {
	// RFC 5321 §4.1.4, §4.2.4: a command out of sequence gets 503 (v0.25.1
	// answered 502, "command not implemented").
	if c.helo == "" {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Please introduce yourself first.")
		return
	}
	if c.bdatPipe != nil {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "MAIL not allowed during message transfer")
		return
	}

	arg, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		c.protocolError(501, EnhancedCode{5, 5, 2}, "Was expecting MAIL arg syntax of FROM:<address>")
		return
	}

	p := parser{s: strings.TrimSpace(arg)}
	from, route, err := p.parseReversePath()
	if err != nil {
		c.protocolError(501, EnhancedCode{5, 5, 2}, "Was expecting MAIL arg syntax of FROM:<address>")
		return
	}
	args, err := parseArgs(p.s)
	if err != nil {
		c.protocolError(501, EnhancedCode{5, 5, 4}, "Unable to parse MAIL ESMTP parameters")
		return
	}

	opts := &MailOptions{SourceRoute: route}

	c.binarymime = false
	// This is where the Conn may put BODY=8BITMIME, but we already
	// read the DATA as bytes, so it does not effect our processing.
	seen := make(map[string]bool, len(args))
	for _, arg := range args {
		key, value := arg.key, arg.value
		if c.repeatedParam(seen, key) {
			return
		}
		switch key {
		case "SIZE":
			// Sluice change: a size-value is 1*20DIGIT (RFC 1870 §3), so
			// one past what an int64 holds is a size too large, not a
			// syntax error; v0.25.1 parsed 32 bits and answered a 5 GB
			// message's SIZE with 501 5.5.4 instead of 552 5.3.4.
			size, err := strconv.ParseUint(value, 10, 64)
			if errors.Is(err, strconv.ErrRange) && len(value) <= 20 {
				size, err = math.MaxInt64, nil
			}
			if err != nil {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Unable to parse SIZE as an integer")
				return
			}
			if size > math.MaxInt64 {
				size = math.MaxInt64
			}

			if c.server.MaxMessageBytes > 0 && int64(size) > c.server.MaxMessageBytes {
				c.protocolError(552, EnhancedCode{5, 3, 4}, "Max message size exceeded")
				return
			}

			opts.Size = int64(size)
		case "SMTPUTF8":
			if !c.server.EnableSMTPUTF8 {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "SMTPUTF8 is not implemented")
				return
			}
			opts.UTF8 = true
		case "REQUIRETLS":
			if !c.server.EnableREQUIRETLS {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "REQUIRETLS is not implemented")
				return
			}
			opts.RequireTLS = true
		case "BODY":
			value = strings.ToUpper(value)
			switch BodyType(value) {
			case BodyBinaryMIME:
				if !c.server.EnableBINARYMIME {
					c.protocolError(504, EnhancedCode{5, 5, 4}, "BINARYMIME is not implemented")
					return
				}
				c.binarymime = true
			case Body7Bit, Body8BitMIME:
				// This space is intentionally left blank
			default:
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Unknown BODY value")
				return
			}
			opts.Body = BodyType(value)
		case "RET":
			if !c.server.EnableDSN {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "RET is not implemented")
				return
			}
			value = strings.ToUpper(value)
			switch DSNReturn(value) {
			case DSNReturnFull, DSNReturnHeaders:
				// This space is intentionally left blank
			default:
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Unknown RET value")
				return
			}
			opts.Return = DSNReturn(value)
		case "ENVID":
			if !c.server.EnableDSN {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "ENVID is not implemented")
				return
			}
			value, err := decodeXtext(value)
			// RFC 3461 §4.4: at most 100 characters (Sluice change:
			// v0.25.1 took any length), counted decoded, as Sluice's
			// delivery checks the ENVID it relays.
			if err != nil || value == "" || len(value) > maxEnvIDLength || !isPrintableASCII(value) {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed ENVID parameter value")
				return
			}
			opts.EnvelopeID = value
		case "AUTH":
			value, err := decodeXtext(value)
			// RFC 5321 §4.2.4: 501 for a syntax error in a parameter
			// (v0.25.1: 500, an unrecognized command).
			if err != nil || value == "" {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed AUTH parameter value")
				return
			}
			if value == "<>" {
				value = ""
			} else {
				p := parser{s: value}
				value, err = p.parseMailbox()
				if err != nil || p.s != "" {
					c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed AUTH parameter mailbox")
					return
				}
			}
			opts.Auth = &value
		default:
			// RFC 5321 §4.1.1.11, §4.2.3: 555, "MAIL FROM/RCPT TO
			// parameters not recognized or not implemented" (v0.25.1: 500).
			c.protocolError(555, EnhancedCode{5, 5, 4}, "Unknown MAIL FROM argument")
			return
		}
	}

	if err := c.Session().Mail(from, opts); err != nil {
		c.writeError(451, EnhancedCode{4, 0, 0}, err)
		return
	}

	c.writeResponse(250, EnhancedCode{2, 0, 0}, fmt.Sprintf("Roger, accepting mail from <%v>", quotePath(from)))
	c.fromReceived = true
	c.noRcptRefused = false
}

// repeatedParam answers a MAIL or RCPT parameter given before in the same
// command with 501 5.5.4 naming it, and reports whether it did. RFC 3461
// §4 allows RET, ENVID, NOTIFY and ORCPT at most once, and Postfix refuses
// a repeat (501 5.5.4) of those; a repeat of any other is refused alike,
// as one of the two values would be dropped unseen. A keyword is echoed
// only once its first occurrence passed the switch, so it is a known one.
func (c *Conn) repeatedParam(seen map[string]bool, key string) bool {
	if !seen[key] {
		seen[key] = true
		return false
	}
	c.protocolError(501, EnhancedCode{5, 5, 4}, fmt.Sprintf("Duplicate %s parameter", key))
	return true
}

// maxEnvIDLength is the longest ENVID, in characters (RFC 3461 §4.4).
const maxEnvIDLength = 100

// maxORCPTLength is the longest ORCPT address, in octets once decoded, as
// ENVID is counted: RFC 3461 §4 has NOTIFY and ORCPT lengthen a RCPT
// command line by at most 500 characters.
const maxORCPTLength = 500

// This regexp matches 'hexchar' token defined in
// https://tools.ietf.org/html/rfc4954#section-8 however it is intentionally
// relaxed by requiring only '+' to be present.  It allows us to detect
// malformed values such as +A or +HH and report them appropriately.
var hexcharRe = regexp.MustCompile(`\+[0-9A-F]?[0-9A-F]?`)

func decodeXtext(val string) (string, error) {
	if !strings.Contains(val, "+") {
		return val, nil
	}

	var replaceErr error
	decoded := hexcharRe.ReplaceAllStringFunc(val, func(match string) string {
		if len(match) != 3 {
			replaceErr = errors.New("incomplete hexchar")
			return ""
		}
		// An xtext hexchar is an octet (RFC 3461 §4). Sluice fix:
		// v0.25.1 parsed "+XX" as a signed 8-bit number, so every octet
		// over 7F was an error, and turned the value into a rune, which
		// would have re-encoded it; the octets of a UTF-8 address (as
		// Postfix writes them) are kept as they are.
		char, err := strconv.ParseUint(match[1:], 16, 8)
		if err != nil {
			replaceErr = err
			return ""
		}

		return string([]byte{byte(char)})
	})
	if replaceErr != nil {
		return "", replaceErr
	}

	return decoded, nil
}

// This regexp matches 'EmbeddedUnicodeChar' token defined in
// https://datatracker.ietf.org/doc/html/rfc6533.html#section-3
// however it is intentionally relaxed by requiring only '\x{HEX}' to be
// present.  It also matches disallowed characters in QCHAR and QUCHAR defined
// in above.
// So it allows us to detect malformed values and report them appropriately.
var eUOrDCharRe = regexp.MustCompile(`\\x[{][0-9A-F]+[}]|[[:cntrl:] \\+=]`)

// Decodes the utf-8-addr-xtext or the utf-8-addr-unitext form.
func decodeUTF8AddrXtext(val string) (string, error) {
	var replaceErr error
	decoded := eUOrDCharRe.ReplaceAllStringFunc(val, func(match string) string {
		if len(match) == 1 {
			replaceErr = errors.New("disallowed character:" + match)
			return ""
		}

		hexpoint := match[3 : len(match)-1]
		char, err := strconv.ParseUint(hexpoint, 16, 21)
		if err != nil {
			replaceErr = err
			return ""
		}
		switch len(hexpoint) {
		case 2:
			switch {
			// all xtext-specials
			case 0x01 <= char && char <= 0x09 ||
				0x11 <= char && char <= 0x19 ||
				char == 0x10 || char == 0x20 ||
				char == 0x2B || char == 0x3D || char == 0x7F:
			// 2-digit forms
			case char == 0x5C || 0x80 <= char && char <= 0xFF:
				// This space is intentionally left blank
			default:
				replaceErr = errors.New("illegal hexpoint:" + hexpoint)
				return ""
			}
		// 3-digit forms
		case 3:
			switch {
			case 0x100 <= char && char <= 0xFFF:
				// This space is intentionally left blank
			default:
				replaceErr = errors.New("illegal hexpoint:" + hexpoint)
				return ""
			}
		// 4-digit forms excluding surrogate
		case 4:
			switch {
			case 0x1000 <= char && char <= 0xD7FF:
			case 0xE000 <= char && char <= 0xFFFF:
				// This space is intentionally left blank
			default:
				replaceErr = errors.New("illegal hexpoint:" + hexpoint)
				return ""
			}
		// 5-digit forms
		case 5:
			switch {
			case 0x1_0000 <= char && char <= 0xF_FFFF:
				// This space is intentionally left blank
			default:
				replaceErr = errors.New("illegal hexpoint:" + hexpoint)
				return ""
			}
		// 6-digit forms
		case 6:
			switch {
			case 0x10_0000 <= char && char <= 0x10_FFFF:
				// This space is intentionally left blank
			default:
				replaceErr = errors.New("illegal hexpoint:" + hexpoint)
				return ""
			}
		// the other invalid forms
		default:
			replaceErr = errors.New("illegal hexpoint:" + hexpoint)
			return ""
		}

		return string(rune(char))
	})
	if replaceErr != nil {
		return "", replaceErr
	}

	return decoded, nil
}

func decodeTypedAddress(val string) (DSNAddressType, string, error) {
	tv := strings.SplitN(val, ";", 2)
	if len(tv) != 2 || tv[0] == "" || tv[1] == "" {
		return "", "", errors.New("bad address")
	}
	aType, aAddr := strings.ToUpper(tv[0]), tv[1]

	var err error
	switch DSNAddressType(aType) {
	case DSNAddressTypeRFC822:
		aAddr, err = decodeXtext(aAddr)
		if err == nil && !isPrintableASCII(aAddr) {
			// Sluice change: Postfix (3.7) writes a UTF-8 address as
			// "rfc822;" and the xtext of its UTF-8 octets, and Postfix's
			// and Exim's servers take it; refusing it (501) made Postfix
			// bounce every relayed message to a UTF-8 recipient. Valid
			// UTF-8 without controls or spaces is taken as the utf-8
			// address type it is (RFC 6533 §3).
			if isUTF8Address(aAddr) {
				aType = string(DSNAddressTypeUTF8)
			} else {
				err = errors.New("illegal address:" + aAddr)
			}
		}
	case DSNAddressTypeUTF8:
		aAddr, err = decodeUTF8AddrXtext(aAddr)
	default:
		err = errors.New("unknown address type:" + aType)
	}
	if err != nil {
		return "", "", err
	}

	return DSNAddressType(aType), aAddr, nil
}

func encodeXtext(raw string) string {
	var out strings.Builder
	out.Grow(len(raw))

	for _, ch := range raw {
		switch {
		case ch >= '!' && ch <= '~' && ch != '+' && ch != '=':
			// printable non-space US-ASCII except '+' and '='
			out.WriteRune(ch)
		default:
			out.WriteRune('+')
			out.WriteString(strings.ToUpper(strconv.FormatInt(int64(ch), 16)))
		}
	}
	return out.String()
}

// Encodes raw string to the utf-8-addr-xtext form in RFC 6533.
func encodeUTF8AddrXtext(raw string) string {
	var out strings.Builder
	out.Grow(len(raw))

	for _, ch := range raw {
		switch {
		case ch >= '!' && ch <= '~' && ch != '+' && ch != '=':
			// printable non-space US-ASCII except '+' and '='
			out.WriteRune(ch)
		default:
			out.WriteRune('\\')
			out.WriteRune('x')
			out.WriteRune('{')
			out.WriteString(strings.ToUpper(strconv.FormatInt(int64(ch), 16)))
			out.WriteRune('}')
		}
	}
	return out.String()
}

// Encodes raw string to the utf-8-addr-unitext form in RFC 6533.
func encodeUTF8AddrUnitext(raw string) string {
	var out strings.Builder
	out.Grow(len(raw))

	for _, ch := range raw {
		switch {
		case ch >= '!' && ch <= '~' && ch != '+' && ch != '=':
			// printable non-space US-ASCII except '+' and '='
			out.WriteRune(ch)
		case ch <= '\x7F':
			// other ASCII: CTLs, space and specials
			out.WriteRune('\\')
			out.WriteRune('x')
			out.WriteRune('{')
			out.WriteString(strings.ToUpper(strconv.FormatInt(int64(ch), 16)))
			out.WriteRune('}')
		default:
			// UTF-8 non-ASCII
			out.WriteRune(ch)
		}
	}
	return out.String()
}

// isUTF8Address reports whether val is valid UTF-8 with no control
// character (C0, DEL, C1) and no space: an address an ORCPT may carry.
func isUTF8Address(val string) bool {
	if !utf8.ValidString(val) {
		return false
	}
	for _, ch := range val {
		if ch <= ' ' || ch == 0x7f || (ch >= 0x80 && ch <= 0x9f) {
			return false
		}
	}
	return true
}

func isPrintableASCII(val string) bool {
	for _, ch := range val {
		if ch < ' ' || '~' < ch {
			return false
		}
	}
	return true
}

// MAIL state -> waiting for RCPTs followed by DATA
func (c *Conn) handleRcpt(arg string) {
	// RFC 5321 §4.1.4, §4.2.4: 503 (v0.25.1: 502).
	if !c.fromReceived {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Missing MAIL FROM command.")
		return
	}
	if c.bdatPipe != nil {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "RCPT not allowed during message transfer")
		return
	}

	arg, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		c.protocolError(501, EnhancedCode{5, 5, 2}, "Was expecting RCPT arg syntax of TO:<address>")
		return
	}

	p := parser{s: strings.TrimSpace(arg)}
	var recipient string
	var route []string
	var err error
	if rest, ok := cutPrefixFold(p.s, "<postmaster>"); ok {
		// RFC 5321 §4.1.1.3, §4.5.1: "<Postmaster>" without a domain is
		// a valid path, which the server MUST accept; the backend maps
		// it to its own postmaster.
		recipient, p.s = "postmaster", rest
	} else if recipient, route, err = p.parsePath(); err != nil {
		c.protocolError(501, EnhancedCode{5, 5, 2}, "Was expecting RCPT arg syntax of TO:<address>")
		return
	}

	if c.server.MaxRecipients > 0 && len(c.recipients) >= c.server.MaxRecipients {
		c.writeResponse(452, EnhancedCode{4, 5, 3}, fmt.Sprintf("Maximum limit of %v recipients reached", c.server.MaxRecipients))
		return
	}

	args, err := parseArgs(p.s)
	if err != nil {
		c.protocolError(501, EnhancedCode{5, 5, 4}, "Unable to parse RCPT ESMTP parameters")
		return
	}

	opts := &RcptOptions{SourceRoute: route}

	seen := make(map[string]bool, len(args))
	for _, arg := range args {
		key, value := arg.key, arg.value
		if c.repeatedParam(seen, key) {
			return
		}
		switch key {
		case "NOTIFY":
			if !c.server.EnableDSN {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "NOTIFY is not implemented")
				return
			}
			notify := []DSNNotify{}
			for _, val := range strings.Split(value, ",") {
				notify = append(notify, DSNNotify(strings.ToUpper(val)))
			}
			if err := checkNotifySet(notify); err != nil {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed NOTIFY parameter value")
				return
			}
			opts.Notify = notify
		case "ORCPT":
			if !c.server.EnableDSN {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "ORCPT is not implemented")
				return
			}
			aType, aAddr, err := decodeTypedAddress(value)
			if err != nil || aAddr == "" {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed ORCPT parameter value")
				return
			}
			if len(aAddr) > maxORCPTLength {
				// Sluice change: v0.25.1 took any length a command line
				// allowed, and a server keeps every recipient's ORCPT
				// until the end of the transaction: up to the line
				// length limit times the recipient limit, per connection.
				c.protocolError(501, EnhancedCode{5, 5, 4}, "ORCPT parameter value too long")
				return
			}
			opts.OriginalRecipientType = aType
			opts.OriginalRecipient = aAddr
		case "RRVS":
			if !c.server.EnableRRVS {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "RRVS is not implemented")
				return
			}
			value, _, _ = strings.Cut(value, ";") // discard the no-support action
			rrvsTime, err := time.Parse(time.RFC3339, value)
			if err != nil {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed RRVS parameter value")
				return
			}
			opts.RequireRecipientValidSince = rrvsTime
		case "BY":
			if !c.server.EnableDELIVERBY {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "DELIVERBY is not implemented")
				return
			}
			deliverBy := parseDeliverByArgument(value)
			if deliverBy == nil {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed BY parameter value")
				return
			}
			if c.server.MinimumDeliverByTime != 0 &&
				deliverBy.Mode == DeliverByReturn &&
				deliverBy.Time < c.server.MinimumDeliverByTime {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "BY parameter is below server minimum")
				return
			}
			opts.DeliverBy = deliverBy
		case "MT-PRIORITY":
			if !c.server.EnableMTPRIORITY {
				c.protocolError(504, EnhancedCode{5, 5, 4}, "MT-PRIORITY is not implemented")
				return
			}
			mtPriority, err := strconv.Atoi(value)
			if err != nil {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "Malformed MT-PRIORITY parameter value")
				return
			}
			if mtPriority < -9 || mtPriority > 9 {
				c.protocolError(501, EnhancedCode{5, 5, 4}, "MT-PRIORITY is outside valid range")
				return
			}
			opts.MTPriority = &mtPriority
		default:
			// RFC 5321 §4.1.1.11, §4.2.3 (v0.25.1: 500).
			c.protocolError(555, EnhancedCode{5, 5, 4}, "Unknown RCPT TO argument")
			return
		}
	}

	if err := c.Session().Rcpt(recipient, opts); err != nil {
		c.writeError(451, EnhancedCode{4, 0, 0}, err)
		return
	}
	c.recipients = append(c.recipients, recipient)
	c.writeResponse(250, EnhancedCode{2, 0, 0}, fmt.Sprintf("I'll make sure <%v> gets this", quotePath(recipient)))
}

func checkNotifySet(values []DSNNotify) error {
	if len(values) == 0 {
		return errors.New("Malformed NOTIFY parameter value")
	}

	seen := map[DSNNotify]struct{}{}
	for _, val := range values {
		switch val {
		case DSNNotifyNever, DSNNotifyDelayed, DSNNotifyFailure, DSNNotifySuccess:
			if _, ok := seen[val]; ok {
				return errors.New("Malformed NOTIFY parameter value")
			}
		default:
			return errors.New("Malformed NOTIFY parameter value")
		}
		seen[val] = struct{}{}
	}
	if _, ok := seen[DSNNotifyNever]; ok && len(seen) > 1 {
		return errors.New("Malformed NOTIFY parameter value")
	}

	return nil
}

func (c *Conn) handleAuth(arg string) {
	// RFC 5321 §4.2.4: 503 out of sequence, 501 for a missing argument
	// (v0.25.1: 502 for both).
	if c.helo == "" {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Please introduce yourself first.")
		return
	}
	if c.didAuth {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Already authenticated")
		return
	}

	parts := strings.Fields(arg)
	if len(parts) == 0 {
		c.protocolError(501, EnhancedCode{5, 5, 4}, "Missing parameter")
		return
	}

	if !c.authAllowed() {
		c.protocolError(523, EnhancedCode{5, 7, 10}, "TLS is required")
		return
	}

	mechanism := strings.ToUpper(parts[0])

	// Parse client initial response if there is one
	var ir []byte
	if len(parts) > 1 {
		var err error
		ir, err = decodeSASLResponse(parts[1])
		if err != nil {
			// RFC 4954 §4: a response that is not BASE64 gets 501 5.5.2
			// (v0.25.1: 454 4.7.0, a temporary failure).
			c.protocolError(501, EnhancedCode{5, 5, 2}, "Invalid base64 data")
			return
		}
	}

	sasl, err := c.auth(mechanism)
	if err != nil {
		c.writeError(454, EnhancedCode{4, 7, 0}, err)
		return
	}

	response := ir
	for {
		challenge, done, err := sasl.Next(response)
		if err != nil {
			if malformedSASLResponse(err) {
				// RFC 4954 §4: a response that is "syntactically
				// invalid" gets 501 (v0.25.1: 454 4.7.0, a temporary
				// failure): AUTH PLAIN without its two NULs, say.
				c.protocolError(501, EnhancedCode{5, 5, 2}, "Malformed authentication response")
				return
			}
			c.writeError(454, EnhancedCode{4, 7, 0}, err)
			return
		}

		if done {
			break
		}

		encoded := ""
		if len(challenge) > 0 {
			encoded = base64.StdEncoding.EncodeToString(challenge)
		}
		c.writeResponse(334, NoEnhancedCode, encoded)

		encoded, err = c.readLine()
		if err == ErrTooLongLine {
			// RFC 4954 §4, §6: a response longer than the server takes
			// fails the AUTH with 500 5.5.6 (v0.25.1: 5.5.2, a command
			// line's). The rest of the line is unread, so the connection
			// is closed, as after a command line too long.
			c.writeResponse(500, EnhancedCode{5, 5, 6}, "Authentication Exchange line is too long, closing connection")
			c.Close()
			return
		}
		if err != nil {
			// A timeout or a lost connection mid-exchange ends the session,
			// as between commands (v0.25.1 went back to reading commands,
			// with the rest of the line still unread).
			c.readError(err, idleTimeoutMsg)
			return
		}

		if encoded == "*" {
			// RFC 4954 §4: the client cancels the exchange, and the
			// server answers 501; 5.7.0, a security status (RFC 3463
			// §3.8), as Postfix's "501 5.7.0 Authentication aborted"
			// (v0.25.1: 5.0.0). Sluice change: it is an error the
			// server answers itself, reported to the ErrorCounter as
			// Postfix counts it towards smtpd_hard_error_limit; v0.25.1
			// told no one, so AUTH and "*" could be sent without end.
			c.protocolError(501, EnhancedCode{5, 7, 0}, "Negotiation cancelled")
			return
		}

		response, err = decodeSASLResponse(encoded)
		if err != nil {
			// RFC 4954 §4, as for the initial response.
			c.protocolError(501, EnhancedCode{5, 5, 2}, "Invalid base64 data")
			return
		}
	}

	// RFC 4954 §6: 235 2.7.0, as Postfix answers (v0.25.1: 2.0.0).
	c.writeResponse(235, EnhancedCode{2, 7, 0}, "Authentication succeeded")
	c.didAuth = true
}

// errSASLInvalidResponse is the text of go-sasl's error for a response
// its mechanism cannot parse (PLAIN's without two NUL separators, RFC 4616
// §2); go-sasl does not export it. TestServerAuthMalformed pins it.
const errSASLInvalidResponse = "sasl: invalid response"

// malformedSASLResponse reports whether err, from a sasl.Server's Next,
// means the client's response was not a valid one for the mechanism, not
// that the credentials in it were refused.
func malformedSASLResponse(err error) bool {
	return errors.Is(err, sasl.ErrUnexpectedClientResponse) || err.Error() == errSASLInvalidResponse
}

func decodeSASLResponse(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

func (c *Conn) authMechanisms() []string {
	if authSession, ok := c.Session().(AuthSession); ok {
		return authSession.AuthMechanisms()
	}
	return nil
}

func (c *Conn) auth(mech string) (sasl.Server, error) {
	if authSession, ok := c.Session().(AuthSession); ok {
		return authSession.Auth(mech)
	}
	return nil, ErrAuthUnknownMechanism
}

func (c *Conn) handleStartTLS(arg string) {
	// RFC 3207 §4: "STARTTLS" CRLF, no parameter; 501 for one (v0.25.1
	// started TLS whatever followed the verb).
	if arg != "" {
		c.protocolError(501, EnhancedCode{5, 5, 4}, "Syntax: STARTTLS")
		return
	}
	// RFC 5321 §4.2.4: STARTTLS is implemented, only not again under
	// TLS (RFC 3207 §4.2), so a bad sequence, 503, as sendmail and
	// OpenSMTPD answer (v0.25.1: 502, "command not implemented").
	if _, isTLS := c.TLSConnectionState(); isTLS {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Already running in TLS")
		return
	}

	if c.server.TLSConfig == nil {
		c.protocolError(502, EnhancedCode{5, 5, 1}, "TLS not supported")
		return
	}

	c.writeResponse(220, EnhancedCode{2, 0, 0}, "Ready to start TLS")

	// Upgrade to TLS. The handshake gets the timeouts of one command of
	// its own, from the 220: it is bounded by them, not by what is left
	// of the STARTTLS line's.
	tlsConn := tls.Server(c.conn, c.server.TLSConfig)
	if d := c.server.ReadTimeout; d != 0 {
		c.conn.SetReadDeadline(time.Now().Add(d))
	}
	if d := c.server.WriteTimeout; d != 0 {
		c.conn.SetWriteDeadline(time.Now().Add(d))
	}
	if err := tlsConn.Handshake(); err != nil {
		// Once 220 is sent the client speaks TLS, or nothing we may act
		// on: the connection closes with nothing more written (RFC 3207
		// §4.2; Postfix's smtpd does so when SSL_accept fails). Sluice
		// fix: v0.25.1 wrote a plaintext 550 and kept the session, with
		// its pre-STARTTLS state, going in the clear.
		c.server.ErrorLog.Printf("STARTTLS handshake with %v: %v", c.conn.RemoteAddr(), err)
		if f := c.server.StartTLSFailed; f != nil {
			f(c, err)
		}
		c.Close()
		return
	}

	c.conn = tlsConn
	c.init()

	// Reset all state and close the previous Session.
	// This is different from just calling reset() since we want the Backend to
	// be able to see the information about TLS connection in the
	// ConnectionState object passed to it.
	if session := c.Session(); session != nil {
		session.Logout()
		c.setSession(nil)
	}
	c.helo = ""
	c.didAuth = false
	c.reset()
}

// DATA
// refuseWithoutRecipients answers DATA or BDAT that has no transaction to
// carry: 503 before MAIL (RFC 5321 §4.1.4, bad sequence), 554 when every
// RCPT failed (RFC 2920 §3.1, "no valid recipients", what a pipelining
// client expects). v0.25.1 answered 502, "command not implemented", to both.
func (c *Conn) refuseWithoutRecipients() bool {
	switch {
	case !c.fromReceived:
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Bad sequence of commands: MAIL first")
	case len(c.recipients) == 0:
		// An error like any other, as Postfix counts it, once per
		// transaction: a pipelining client that sent DATA before it knew
		// its recipients failed (RFC 2920 §3.1), or its BDAT chunks
		// after them, costs one error, and a client repeating DATA after
		// MAIL alone no longer goes on for ever (the repeats are junk).
		if !c.noRcptRefused {
			c.noRcptRefused = true
			c.protocolError(554, EnhancedCode{5, 5, 1}, "No valid recipients")
		} else if !c.junkCommand("DATA") {
			c.writeResponse(554, EnhancedCode{5, 5, 1}, "No valid recipients")
		}
	default:
		return false
	}
	return true
}

func (c *Conn) handleData(arg string) {
	if arg != "" {
		c.protocolError(501, EnhancedCode{5, 5, 4}, "DATA command should not have any arguments")
		return
	}
	if c.bdatPipe != nil {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "DATA not allowed during message transfer")
		return
	}
	if c.binarymime {
		c.protocolError(503, EnhancedCode{5, 5, 1}, "DATA not allowed for BINARYMIME messages")
		return
	}

	if c.refuseWithoutRecipients() {
		return
	}

	// We have recipients, go to accept data
	c.writeResponse(354, NoEnhancedCode, "Go ahead. End your data with <CR><LF>.<CR><LF>")

	defer c.reset()

	if c.server.LMTP {
		c.handleDataLMTP()
		return
	}

	// The message's lines are the backend's to judge (Sluice refuses an
	// over-long one once the data is in, keeping the session): the
	// command line limit (readLine) does not apply to them.
	r := newDataReader(c)
	err := c.Session().Data(r)
	if _, isReply := err.(*SMTPError); r.readErr != nil && !isReply {
		// The connection failed under the session (a timeout, a line too
		// long): answer as between commands, and close. Sluice change:
		// v0.25.1 answered 554 with the Go error's text and read on.
		c.readError(r.readErr, dataTimeoutMsg)
		return
	}
	code, enhancedCode, msg := dataErrorToStatus(err)
	r.limited = false
	io.Copy(ioutil.Discard, r) // Make sure all the data has been consumed
	if r.readErr != nil {
		// The rest of the data could not be read: what follows would be
		// taken for commands.
		c.readError(r.readErr, dataTimeoutMsg)
		return
	}
	c.writeResponse(code, enhancedCode, msg)
	if closesConnection(code) {
		c.Close()
	}
}

// chunkReader reads the size octets of a BDAT chunk from the connection.
// Unlike io.LimitReader it tells a chunk cut short by the end of the
// connection (io.ErrUnexpectedEOF) from a complete one (io.EOF), and keeps
// the connection's error apart from the backend's.
type chunkReader struct {
	c       *Conn
	r       io.Reader
	n       int64 // octets left
	readErr error // the connection's error, if reading it failed
}

func (r *chunkReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if r.readErr != nil {
		return 0, r.readErr
	}
	if int64(len(b)) > r.n {
		b = b[:r.n]
	}
	r.c.dataDeadline()
	n, err := r.r.Read(b)
	err = r.c.dataRead(n, err)
	r.n -= int64(n)
	if err == io.EOF && r.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		r.readErr = err
	}
	return n, err
}

// readChunk copies a BDAT chunk of size octets to w with the line length
// limit off: a chunk is counted octets, not lines (RFC 3030 §2). It
// returns the connection's error and the error of w, if any.
func (c *Conn) readChunk(w io.Writer, size uint64) (readErr, writeErr error) {
	chunk := &chunkReader{c: c, r: c.text.R, n: int64(size)}
	_, err := io.Copy(w, chunk)
	if chunk.readErr != nil {
		return chunk.readErr, nil
	}
	if err != nil {
		// Backend might return an error early using CloseWithError without
		// consuming the whole chunk.
		io.Copy(ioutil.Discard, chunk)
		return chunk.readErr, err
	}
	return nil, nil
}

// discardChunk reads and drops the chunk of a BDAT command that is
// refused: the chunk follows the command whatever the reply (RFC 3030 §2),
// and left unread its octets would be read as commands. It reports false
// when reading failed, after answering and closing the connection.
func (c *Conn) discardChunk(size uint64) bool {
	if readErr, _ := c.readChunk(ioutil.Discard, size); readErr != nil {
		c.readError(readErr, dataTimeoutMsg)
		return false
	}
	return true
}

func (c *Conn) handleBdat(arg string) {
	args := strings.Fields(arg)
	// ParseUint instead of Atoi so we will not accept negative values.
	var size uint64
	var err error
	if len(args) == 0 {
		err = errors.New("no chunk size")
	} else {
		size, err = strconv.ParseUint(args[0], 10, 64)
		if errors.Is(err, strconv.ErrRange) || err == nil && size > math.MaxUint32 {
			// A valid count (RFC 3030 §2: 1*DIGIT), beyond any message
			// we take: the size limit's 552 (v0.25.1 answered 501
			// "Malformed size argument"). The chunk is not drained — a
			// client could hold the connection for as long as it took to
			// send that many octets — so the session ends, and the reply
			// says so.
			c.writeResponse(552, EnhancedCode{5, 3, 4}, "Max message size exceeded, closing connection")
			c.Close()
			return
		}
	}
	if err != nil {
		// Without its size, where the chunk ends cannot be known, nor
		// whether one follows: the input cannot be brought back in step
		// with the commands, so the session ends. Sluice fix: v0.25.1
		// read on, and ran the chunk's content as commands.
		msg := "Malformed size argument"
		if len(args) == 0 {
			msg = "Missing chunk size argument"
		}
		c.writeResponse(501, EnhancedCode{5, 5, 4}, msg+", closing connection")
		c.Close()
		return
	}

	if c.bdatPipe == nil {
		// The first chunk of a message, or one refused: a new balance
		// (datarate.go), which the message's later chunks share.
		c.startData()
	}

	last := false
	badArg := ""
	switch {
	case len(args) > 2:
		badArg = "Too many arguments"
	case len(args) == 2 && !strings.EqualFold(args[1], "LAST"):
		badArg = "Unknown BDAT argument"
	case len(args) == 2:
		last = true
	}
	if badArg != "" {
		// The chunk is read and dropped before the reply (Sluice fix:
		// v0.25.1 left it to be read as commands).
		if c.discardChunk(size) {
			c.protocolError(501, EnhancedCode{5, 5, 4}, badArg)
		}
		return
	}

	if !c.fromReceived || len(c.recipients) == 0 {
		// The chunk follows the command even when the command is rejected.
		// In the clear, where TLS is required, there is never a
		// transaction (MAIL is refused), so the 530 is given here.
		if c.discardChunk(size) && !c.refuseInClear() {
			c.refuseWithoutRecipients()
		}
		return
	}

	if c.server.MaxMessageBytes != 0 && c.bytesReceived+int64(size) > c.server.MaxMessageBytes {
		// Discard chunk itself without passing it to backend.
		if !c.discardChunk(size) {
			return
		}
		c.reset()
		c.protocolError(552, EnhancedCode{5, 3, 4}, "Max message size exceeded")
		return
	}

	if size == 0 && !last && c.junkCommand("BDAT") {
		// An empty chunk that is not the last moves the message no
		// further: it is junk, as NOOP is (Server.JunkCommand). Sluice
		// change: v0.25.1 answered 250 to it without end.
		return
	}

	if c.bdatStatus == nil && c.server.LMTP {
		c.bdatStatus = c.createStatusCollector()
	}

	if c.bdatPipe == nil {
		var r *io.PipeReader
		r, c.bdatPipe = io.Pipe()

		c.dataResult = make(chan error, 1)

		go func() {
			defer func() {
				if err := recover(); err != nil {
					c.handlePanic(err, c.bdatStatus)

					c.dataResult <- errPanic
					r.CloseWithError(errPanic)
				}
			}()

			var err error
			if !c.server.LMTP {
				err = c.Session().Data(r)
			} else {
				lmtpSession, ok := c.Session().(LMTPSession)
				if !ok {
					err = c.Session().Data(r)
					for _, rcpt := range c.recipients {
						c.bdatStatus.SetStatus(rcpt, err)
					}
				} else {
					err = lmtpSession.LMTPData(r, c.bdatStatus)
				}
			}

			c.dataResult <- err
			r.CloseWithError(err)
		}()
	}

	readErr, err := c.readChunk(c.bdatPipe, size)
	if readErr != nil {
		if errors.Is(readErr, ErrMinDataRate) {
			// Tell the session why its data ended, and let it finish,
			// before Close ends the session: its log then says why,
			// rather than a closed connection. The pipe keeps this
			// error, not Close's ErrDataReset.
			c.bdatPipe.CloseWithError(fmt.Errorf("%w: %w", ErrDataReset, ErrMinDataRate))
			<-c.dataResult
		}
		// The connection failed mid-chunk: answer as DATA does (421 4.4.2
		// for a timeout) and close; Close ends the backend's read with
		// ErrDataReset. Sluice fix: v0.25.1 answered 554 with the Go
		// error's text, and read on.
		c.readError(readErr, dataTimeoutMsg)
		return
	}
	if err != nil {
		code, enhancedCode, msg := dataErrorToStatus(err)
		c.writeResponse(code, enhancedCode, msg)

		if err == errPanic || closesConnection(code) {
			c.Close()
		}

		c.reset()
		return
	}

	c.bytesReceived += int64(size)

	if last {
		c.bdatPipe.Close()

		err := <-c.dataResult

		if c.server.LMTP {
			c.bdatStatus.fillRemaining(err)
			for i, rcpt := range c.recipients {
				code, enchCode, msg := dataErrorToStatus(<-c.bdatStatus.status[i])
				c.writeResponse(code, enchCode, "<"+rcpt+"> "+msg)
			}
		} else {
			code, enhancedCode, msg := dataErrorToStatus(err)
			c.writeResponse(code, enhancedCode, msg)
			if closesConnection(code) {
				c.Close()
				return
			}
		}

		if err == errPanic {
			c.Close()
			return
		}

		c.reset()
	} else {
		c.writeResponse(250, EnhancedCode{2, 0, 0}, "Continue")
	}
}

// ErrDataReset is returned by Reader pased to Data function if client does not
// send another BDAT command and instead closes connection or issues RSET command.
var ErrDataReset = errors.New("smtp: message transmission aborted")

var errPanic = &SMTPError{
	Code:         421,
	EnhancedCode: EnhancedCode{4, 0, 0},
	Message:      "Internal server error",
}

func (c *Conn) handlePanic(err interface{}, status *statusCollector) {
	if status != nil {
		status.fillRemaining(errPanic)
	}

	stack := debug.Stack()
	c.server.ErrorLog.Printf("panic serving %v: %v\n%s", c.conn.RemoteAddr(), err, stack)
}

func (c *Conn) createStatusCollector() *statusCollector {
	rcptCounts := make(map[string]int, len(c.recipients))

	status := &statusCollector{
		statusMap: make(map[string]chan error, len(c.recipients)),
		status:    make([]chan error, 0, len(c.recipients)),
	}
	for _, rcpt := range c.recipients {
		rcptCounts[rcpt]++
	}
	// Create channels with buffer sizes necessary to fit all
	// statuses for a single recipient to avoid deadlocks.
	for rcpt, count := range rcptCounts {
		status.statusMap[rcpt] = make(chan error, count)
	}
	for _, rcpt := range c.recipients {
		status.status = append(status.status, status.statusMap[rcpt])
	}

	return status
}

type statusCollector struct {
	// Contains map from recipient to list of channels that are used for that
	// recipient.
	statusMap map[string]chan error

	// Contains channels from statusMap, in the same
	// order as Conn.recipients.
	status []chan error
}

// fillRemaining sets status for all recipients SetStatus was not called for before.
func (s *statusCollector) fillRemaining(err error) {
	// Amount of times certain recipient was specified is indicated by the channel
	// buffer size, so once we fill it, we can be confident that we sent
	// at least as much statuses as needed. Extra statuses will be ignored anyway.
chLoop:
	for _, ch := range s.statusMap {
		for {
			select {
			case ch <- err:
			default:
				continue chLoop
			}
		}
	}
}

func (s *statusCollector) SetStatus(rcptTo string, err error) {
	ch := s.statusMap[rcptTo]
	if ch == nil {
		panic("SetStatus is called for recipient that was not specified before")
	}

	select {
	case ch <- err:
	default:
		// There enough buffer space to fit all statuses at once, if this is
		// not the case - backend is doing something wrong.
		panic("SetStatus is called more times than particular recipient was specified")
	}
}

func (c *Conn) handleDataLMTP() {
	r := newDataReader(c)
	status := c.createStatusCollector()

	done := make(chan bool, 1)

	lmtpSession, ok := c.Session().(LMTPSession)
	if !ok {
		// Fallback to using a single status for all recipients.
		err := c.Session().Data(r)
		r.limited = false
		io.Copy(ioutil.Discard, r) // Make sure all the data has been consumed
		for _, rcpt := range c.recipients {
			status.SetStatus(rcpt, err)
		}
		done <- true
	} else {
		go func() {
			defer func() {
				if err := recover(); err != nil {
					status.fillRemaining(&SMTPError{
						Code:         421,
						EnhancedCode: EnhancedCode{4, 0, 0},
						Message:      "Internal server error",
					})

					stack := debug.Stack()
					c.server.ErrorLog.Printf("panic serving %v: %v\n%s", c.conn.RemoteAddr(), err, stack)
					done <- false
				}
			}()

			status.fillRemaining(lmtpSession.LMTPData(r, status))
			r.limited = false
			io.Copy(ioutil.Discard, r) // Make sure all the data has been consumed
			done <- true
		}()
	}

	for i, rcpt := range c.recipients {
		code, enchCode, msg := dataErrorToStatus(<-status.status[i])
		c.writeResponse(code, enchCode, "<"+rcpt+"> "+msg)
	}

	// If done gets false, the panic occurred in LMTPData and the connection
	// should be closed.
	if !<-done {
		c.Close()
	}
}

func dataErrorToStatus(err error) (code int, enchCode EnhancedCode, msg string) {
	if err != nil {
		if smtperr, ok := err.(*SMTPError); ok {
			return smtperr.Code, smtperr.EnhancedCode, smtperr.Message
		} else {
			return 554, EnhancedCode{5, 0, 0}, "Error: transaction failed: " + err.Error()
		}
	}

	return 250, EnhancedCode{2, 0, 0}, "OK: queued"
}

func (c *Conn) Reject() {
	c.writeResponse(421, EnhancedCode{4, 4, 5}, "Too busy. Try again later.")
	c.Close()
}

func (c *Conn) greet() {
	if f := c.server.Greeting; f != nil {
		// RFC 5321 §4.3.1: the greeting begins with the server's name.
		text := c.server.Domain
		if g := f(c); g != "" {
			text += " " + g
		}
		c.writeResponse(220, NoEnhancedCode, text)
		return
	}
	protocol := "ESMTP"
	if c.server.LMTP {
		protocol = "LMTP"
	}
	c.writeResponse(220, NoEnhancedCode, fmt.Sprintf("%v %s Service Ready", c.server.Domain, protocol))
}

func (c *Conn) writeResponse(code int, enhCode EnhancedCode, text ...string) {
	if c.server.WriteTimeout != 0 {
		c.conn.SetWriteDeadline(time.Now().Add(c.server.WriteTimeout))
	}

	// All responses must include an enhanced code, if it is missing - use
	// a generic code X.0.0.
	if enhCode == EnhancedCodeNotSet {
		cat := code / 100
		switch cat {
		case 2, 4, 5:
			enhCode = EnhancedCode{cat, 0, 0}
		default:
			enhCode = NoEnhancedCode
		}
	}
	if f := c.server.ReplyCode; f != nil {
		code, enhCode = f(c, code, enhCode)
	}

	// transform each single line with \n, into separate lines; a
	// variable of its own, so that ReplyLines, which may keep what it is
	// given, does not make every caller's text escape (Sluice fix)
	lines := strings.Split(strings.Join(text, "\n"), "\n")
	if f := c.server.ReplyLines; f != nil {
		if lines = f(c, code, enhCode, lines); len(lines) == 0 {
			lines = []string{""}
		}
	}

	lastLineIndex := len(lines) - 1
	var err error
	for i := 0; i < lastLineIndex && err == nil; i++ {
		// RFC 2034 §4: the same enhanced code begins the text of each
		// line of a multi-line reply. Sluice fix: v0.25.1 wrote it on
		// the last line only.
		if enhCode == NoEnhancedCode {
			err = c.text.PrintfLine("%d-%v", code, lines[i])
		} else {
			err = c.text.PrintfLine("%d-%v.%v.%v %v", code, enhCode[0], enhCode[1], enhCode[2], lines[i])
		}
	}
	switch {
	case err != nil:
	case enhCode == NoEnhancedCode:
		err = c.text.PrintfLine("%d %v", code, lines[lastLineIndex])
	default:
		err = c.text.PrintfLine("%d %v.%v.%v %v", code, enhCode[0], enhCode[1], enhCode[2], lines[lastLineIndex])
	}
	if err != nil {
		// The reply could not be sent (the write timeout, the client
		// gone): the socket is closed, so the next read fails and the
		// session ends as when the client leaves. Sluice fix: v0.25.1
		// ignored the error, and since the buffered writer keeps it,
		// went on reading and running the client's commands with every
		// reply lost; a client that never read its replies kept its
		// session, a write timeout at a time.
		c.conn.Close()
	}
}

// writeError answers a command with the error the session returned, and
// closes the connection after a 421 or 521 (see closesConnection).
func (c *Conn) writeError(code int, enhCode EnhancedCode, err error) {
	if smtpErr, ok := err.(*SMTPError); ok {
		c.writeResponse(smtpErr.Code, smtpErr.EnhancedCode, smtpErr.Message)
		if closesConnection(smtpErr.Code) {
			c.Close()
		}
	} else {
		c.writeResponse(code, enhCode, err.Error())
	}
}

// closesConnection reports whether a reply the session gave ends the
// connection: 421, "Service not available, closing transmission
// channel" (RFC 5321 §3.8, §4.2.3), which a server sends when it must
// shut the session down, so the client is not left talking to a server
// that refuses everything after it, and 521, "does not accept mail"
// (RFC 7504 §3), after which the server closes too. Postfix's smtpd
// likewise disconnects after a 421 or 521 it sends (smtpd_chat_reply).
// Sluice change: v0.25.1 wrote either and read the next command.
func closesConnection(code int) bool { return code == 421 || code == 521 }

// readLine reads a command line, or an AUTH response line, without its
// line end (LF, or CRLF). The read deadline is set once per line, so it
// bounds the whole line however slowly its bytes come. A line the client
// had not finished when the read failed (the deadline, the client gone) is
// dropped and the error returned: a server must not act on an incomplete
// command (RFC 5321 §4.5.3.2.7: the timeout is a wait for the next
// command, so a fragment is a command never received). Sluice fix:
// v0.25.1 read with textproto's ReadLine, which returns the fragment as a
// line and drops the error, so the fragment was run as a command and the
// rest of the line read as another.
func (c *Conn) readLine() (string, error) {
	line, _, err := c.readCommandLine()
	return line, err
}

// readCommandLine is readLine that also reports whether the line ended
// in a bare LF, an LF with no CR before it (Server.BareLFCommand).
func (c *Conn) readCommandLine() (string, bool, error) {
	if c.server.ReadTimeout != 0 {
		if err := c.conn.SetReadDeadline(time.Now().Add(c.server.ReadTimeout)); err != nil {
			return "", false, err
		}
	}

	max := c.server.MaxLineLength // with its CRLF; 0 or less: none
	var long []byte               // a line longer than the bufio.Reader's buffer
	for {
		l, err := c.text.R.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, l...)
			if max > 0 && len(long) > max {
				return "", false, ErrTooLongLine
			}
			continue
		}
		if err != nil {
			return "", false, err
		}
		if long != nil {
			l = append(long, l...)
		}
		if max > 0 && len(l) > max {
			return "", false, ErrTooLongLine
		}
		n := len(l) - 1 // the LF
		bare := n == 0 || l[n-1] != '\r'
		if !bare {
			n--
		}
		return string(l[:n]), bare, nil
	}
}

// refuseBareLF asks Server.BareLFCommand about line, which ended in a
// bare LF, and reports true when its reply was written in the command's
// place (the connection closed after a 421 or 521).
func (c *Conn) refuseBareLF(line string) bool {
	f := c.server.BareLFCommand
	if f == nil {
		return false
	}
	r := f(c, line)
	if r == nil {
		return false
	}
	if closesConnection(r.Code) {
		c.writeResponse(r.Code, r.EnhancedCode, r.Message)
		c.Close()
		return true
	}
	if cmd, arg, err := parseCmd(line); err == nil && cmd == "BDAT" && !c.dropRefusedChunk(arg, r) {
		return true
	}
	c.protocolError(r.Code, r.EnhancedCode, r.Message)
	return true
}

// dropRefusedChunk reads and drops the chunk of "BDAT arg" refused with
// r for its bare LF, as handleBdat drops a refused BDAT's, for the chunk
// follows its command whatever the reply (RFC 3030 §2), and fails the
// transaction: the sender must send no more chunks after a refused one
// (RFC 3030 §2), and any it pipelined must not complete a message without
// the dropped one. Without a size it can drain, where the chunk ends is
// not known: r is written and the connection closed, as handleBdat
// closes. It reports false when the connection was closed.
func (c *Conn) dropRefusedChunk(arg string, r *SMTPError) bool {
	args := strings.Fields(arg)
	var size uint64
	err := errors.New("no chunk size")
	if len(args) > 0 {
		size, err = strconv.ParseUint(args[0], 10, 64)
	}
	if err != nil || size > math.MaxUint32 {
		c.writeResponse(r.Code, r.EnhancedCode, r.Message)
		c.Close()
		return false
	}
	if c.bdatPipe == nil {
		c.startData()
	}
	if !c.discardChunk(size) {
		return false
	}
	c.reset()
	return true
}

// Replies to a client whose input could not be read.
const (
	idleTimeoutMsg = "Idle timeout, bye bye"
	dataTimeoutMsg = "Timeout waiting for data, closing connection"
)

// readError answers a failed read of the client's input and closes the
// connection: after it the input cannot be trusted to be in step with the
// replies. A timeout gets 421 4.4.2 with timeoutMsg (RFC 5321 §4.5.3.2,
// RFC 3463 X.4.2), a line over MaxLineLength 500 5.5.2 (RFC 5321
// §4.5.3.1.4, §4.5.3.1.6), any other failure but the end of the
// connection 421 4.4.0 (RFC 5321 §3.8). It returns the error worth
// logging, if any.
func (c *Conn) readError(err error, timeoutMsg string) error {
	switch {
	case err == io.EOF || errors.Is(err, net.ErrClosed):
		err = nil
	case err == ErrTooLongLine:
		c.writeResponse(500, EnhancedCode{5, 5, 2}, "Too long line, closing connection")
		err = nil
	case errors.Is(err, ErrMinDataRate):
		// Postfix's reply to a client past its deadline.
		c.writeResponse(421, EnhancedCode{4, 4, 2}, strings.TrimSpace(c.server.Domain+" "+minDataRateMsg))
		err = nil
	case isTimeout(err):
		c.writeResponse(421, EnhancedCode{4, 4, 2}, timeoutMsg)
		err = nil
	default:
		c.writeResponse(421, EnhancedCode{4, 4, 0}, "Connection error, sorry")
	}
	c.Close()
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Conn) reset() {
	c.locker.Lock()
	defer c.locker.Unlock()

	if c.bdatPipe != nil {
		c.bdatPipe.CloseWithError(ErrDataReset)
		c.bdatPipe = nil
	}
	c.bdatStatus = nil
	c.bytesReceived = 0

	if c.session != nil {
		c.session.Reset()
	}

	c.fromReceived = false
	c.noRcptRefused = false
	c.recipients = nil
}
