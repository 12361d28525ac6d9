package smtp

import (
	"io"

	"github.com/emersion/go-sasl"
)

var (
	ErrAuthFailed = &SMTPError{
		Code:         535,
		EnhancedCode: EnhancedCode{5, 7, 8},
		Message:      "Authentication failed",
	}
	ErrAuthRequired = &SMTPError{
		Code:         502,
		EnhancedCode: EnhancedCode{5, 7, 0},
		Message:      "Please authenticate first",
	}
	ErrAuthUnsupported = &SMTPError{
		Code:         502,
		EnhancedCode: EnhancedCode{5, 7, 0},
		Message:      "Authentication not supported",
	}
	ErrAuthUnknownMechanism = &SMTPError{
		Code:         504,
		EnhancedCode: EnhancedCode{5, 7, 4},
		Message:      "Unsupported authentication mechanism",
	}
)

// A SMTP server backend.
type Backend interface {
	NewSession(c *Conn) (Session, error)
}

// BackendFunc is an adapter to allow the use of an ordinary function as a
// Backend.
type BackendFunc func(c *Conn) (Session, error)

var _ Backend = (BackendFunc)(nil)

// NewSession calls f(c).
func (f BackendFunc) NewSession(c *Conn) (Session, error) {
	return f(c)
}

// Session is used by servers to respond to an SMTP client.
//
// The methods are called when the remote client issues the matching command.
type Session interface {
	// Discard currently processed message.
	Reset()

	// Free all resources associated with session.
	Logout() error

	// Set return path for currently processed message.
	Mail(from string, opts *MailOptions) error
	// Add recipient for currently processed message.
	Rcpt(to string, opts *RcptOptions) error
	// Set currently processed message contents and send it.
	//
	// r must be consumed before Data returns.
	Data(r io.Reader) error
}

// LMTPSession is an add-on interface for Session. It can be implemented by
// LMTP servers to provide extra functionality.
type LMTPSession interface {
	Session

	// LMTPData is the LMTP-specific version of Data method.
	// It can be optionally implemented by the backend to provide
	// per-recipient status information when it is used over LMTP
	// protocol.
	//
	// LMTPData implementation sets status information using passed
	// StatusCollector by calling SetStatus once per each AddRcpt
	// call, even if AddRcpt was called multiple times with
	// the same argument. SetStatus must not be called after
	// LMTPData returns.
	//
	// Return value of LMTPData itself is used as a status for
	// recipients that got no status set before using StatusCollector.
	LMTPData(r io.Reader, status StatusCollector) error
}

// StatusCollector allows a backend to provide per-recipient status
// information.
type StatusCollector interface {
	SetStatus(rcptTo string, err error)
}

// AuthSession is an add-on interface for Session. It provides support for the
// AUTH extension.
type AuthSession interface {
	Session

	AuthMechanisms() []string
	Auth(mech string) (sasl.Server, error)
}

// ErrorCounter is an add-on interface for Session: a session that limits
// the errors of a connection itself. ProtocolError is called for each
// error reply the server gives on its own — an unknown or malformed
// command, a command out of sequence, a bad argument — with that reply's
// code, enhanced code and text, before it is written; errors the Session's
// own methods return are not reported, the session sees those already.
// When ProtocolError returns nil the error reply is written; otherwise the
// returned reply is written in its place (one reply per command) and the
// connection closed.
//
// A session that does not implement it gets the server's own limit: the
// connection is closed after the fourth unknown or unparsable command.
// Added in Sluice's copy (SLUICE.md).
type ErrorCounter interface {
	Session

	ProtocolError(code int, enhCode EnhancedCode, msg string) *SMTPError
}

// XClientAttr is one attribute of an XCLIENT command: its name upper case,
// its value xtext-decoded (RFC 3461 §4).
type XClientAttr struct {
	Name  string
	Value string
}

// XClientSession is an add-on interface for Session: Postfix's XCLIENT
// extension (XCLIENT_README), with which an authorized client (a proxy, a
// content filter, a test harness) tells the server about the client it
// speaks for.
//
// XClientAttributes lists the attribute names the session takes from this
// client, upper case; EHLO advertises them after the XCLIENT keyword. None:
// the client may not use XCLIENT, which then gets 550 5.7.0.
//
// XClient gets one command's attributes in the order sent, only names
// XClientAttributes listed. An error refuses the command and is written as
// the errors of the other methods are; nothing has changed. Otherwise the
// session ends as after STARTTLS (Logout) and the client must greet again:
// the server answers with a new 220 greeting, or with greeting when it is
// not nil, a refusal in the greeting's place after which the connection
// is closed.
//
// Added in Sluice's copy (SLUICE.md).
type XClientSession interface {
	Session

	XClientAttributes() []string
	XClient(attrs []XClientAttr) (greeting *SMTPError, err error)
}

// XClientBackend is an add-on interface for Backend: XCLIENT before the
// client has greeted, at the start of the connection or right after an
// XCLIENT's 220, as Postfix's smtpd takes it (XCLIENT_README: "at any
// time, except in the middle of a mail delivery transaction"). A proxy
// whose attributes do not fit one command line sends the rest in a
// second XCLIENT before its EHLO (Dovecot's submission relay does).
//
// NewXClientSession returns the session that answers that one command:
// its XClientAttributes say whether the client may use XCLIENT (none:
// 550 5.7.0), its XClient takes the attributes as a greeted session's
// does, and it is logged out once the command is answered. It is not
// the session NewSession makes at EHLO, and Conn.Hostname is "". A nil
// session is refused as one without attributes; an error is written as
// NewSession's is. Without this interface XCLIENT
// before EHLO gets 503 5.5.1, as in v0.25.1 for any command but EHLO.
//
// Added in Sluice's copy (SLUICE.md).
type XClientBackend interface {
	Backend

	NewXClientSession(c *Conn) (XClientSession, error)
}
