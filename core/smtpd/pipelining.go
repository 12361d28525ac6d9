package smtpd

import (
	"errors"
	"net"
	"syscall"

	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"

	"github.com/sluice-mta/sluice/core/metrics"
)

// forbid_unauth_pipelining is Postfix 3.9's smtpd_forbid_unauth_pipelining:
// a client that sends more input after a command whose reply it must wait
// for — one that ends a pipelined group (RFC 2920 §3.1: EHLO, DATA,
// NOOP...), or any command where PIPELINING was not offered (before
// EHLO, after HELO; RFC 5321 §4.1.4) — gets earlyTalk, Postfix's "554
// 5.5.0 Error: SMTP protocol synchronization", in that command's place,
// and the connection closes. Spam bots and SMTP smuggling probes write
// their whole dialog at once; a client that waits is never caught. The
// command is not run: a DATA followed by its content gets no 354, so
// nothing of the transaction is queued. go-smtp says which commands
// must wait (Server.OutOfTurn); this decides whether the client sent
// more. As Postfix, it applies to every client, relay_networks too.

// outOfTurn is go-smtp's OutOfTurn: it refuses cmd when the client sent
// input after it, ahead (what go-smtp read past the line), else, on a
// connection without TLS, what waits unread on the socket (Postfix's
// peekfd).
func (s *Server) outOfTurn(sc *smtp.Conn, cmd string, ahead []byte) *smtp.SMTPError {
	c := connOf(sc)
	if c == nil || !c.forbidPipelining {
		return nil
	}
	if len(ahead) == 0 {
		if sc.Conn() != net.Conn(c) {
			// Under TLS the socket holds records, not commands: a close
			// alert or a key update sent early is no command out of turn.
			return nil
		}
		if ahead = c.unread(); len(ahead) == 0 {
			return nil
		}
	}
	sent, soft := s.softLogged(&earlyTalk)
	s.metrics.PipeliningViolation(c.info.Listener, pipelinedAfter(cmd))
	shown := ahead[:min(len(ahead), earlyTalkShown)]
	attrs := append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...)
	if h := sc.Hostname(); h != "" {
		attrs = append(attrs, "helo", h)
	}
	// The handler quotes the input, its control bytes escaped.
	attrs = append(attrs, "after", cmd, "bytes", len(ahead), "input", string(shown), "reply", sent.String())
	s.log.Info("improper command pipelining", append(attrs, soft...)...)
	c.closeAs(metrics.ClosePipelining)
	return toSMTP(&earlyTalk).(*smtp.SMTPError)
}

// pipelinedVerbs are the verbs go-smtp knows, the values the metric's
// "after" label takes; any other is "other".
var pipelinedVerbs = map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true, "DATA": true,
	"BDAT": true, "RSET": true, "VRFY": true, "EXPN": true, "HELP": true, "NOOP": true,
	"QUIT": true, "AUTH": true, "STARTTLS": true, "XCLIENT": true, "SEND": true,
	"SOML": true, "SAML": true, "TURN": true,
}

func pipelinedAfter(cmd string) string {
	if pipelinedVerbs[cmd] {
		return cmd
	}
	return "other"
}

// peeker looks at what the client sent that no one has read yet, without
// reading it; made once a connection, at its first look.
type peeker struct {
	rc   syscall.RawConn
	look func(fd uintptr) bool
	buf  [earlyTalkShown]byte
	n    int
}

// unread is up to earlyTalkShown bytes waiting on the socket, unread;
// nil for none, and on a connection that is not TCP. It does not wait.
func (c *conn) unread() []byte {
	if c.peek == nil {
		tc, ok := c.Conn.(*net.TCPConn)
		if !ok {
			return nil
		}
		rc, err := tc.SyscallConn()
		if err != nil {
			return nil
		}
		p := &peeker{rc: rc}
		p.look = func(fd uintptr) bool {
			for {
				n, _, err := unix.Recvfrom(int(fd), p.buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if err == nil {
					p.n = n
				}
				return true // never wait for input
			}
		}
		c.peek = p
	}
	p := c.peek
	p.n = 0
	if p.rc.Read(p.look) != nil {
		return nil
	}
	return p.buf[:p.n]
}
