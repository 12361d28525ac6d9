package smtp

import "strings"

// Commands sent ahead of their turn, Postfix's smtpd_forbid_unauth_pipelining.
// Added in Sluice's copy (SLUICE.md).

// groupEnders are the commands that may only end a pipelined group (RFC
// 2920 §3.1): the client must have their reply before it sends more.
// QUIT is one too, but nothing is run after it, so input after it
// harms no one (Postfix does not check it either). STARTTLS drops what
// was sent after it in the clear (handleStartTLS); BDAT's chunk follows
// its command by design (RFC 3030 §2), and BDAT commands may be
// pipelined (RFC 3030 §4.2). XCLIENT is left out on purpose, where
// Postfix checks it: Dovecot's submission proxy writes its XCLIENT and
// the EHLO after it at once, and XCLIENT comes from trusted hosts only.
var groupEnders = map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "DATA": true,
	"VRFY": true, "EXPN": true, "TURN": true, "NOOP": true,
}

// verbs are the commands handle runs. Any other, and an empty line, is
// answered 500 and runs nothing, so it is not asked about and the
// command after it is: Postfix's smtpd answers an unknown command before
// its pipelining check too.
var verbs = map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true,
	"DATA": true, "BDAT": true, "RSET": true, "VRFY": true, "EXPN": true,
	"HELP": true, "NOOP": true, "QUIT": true, "AUTH": true, "STARTTLS": true,
	"XCLIENT": true, "SEND": true, "SOML": true, "SAML": true, "TURN": true,
}

// pipeliningOffered reports whether the client was told it may pipeline:
// its session began with EHLO (or LHLO), whose reply lists PIPELINING.
// Before that, after HELO, and after XCLIENT or STARTTLS until the next
// greeting, every command waits for its reply (RFC 5321 §4.1.4; Postfix
// checks every command of a session that is not ESMTP).
func (c *Conn) pipeliningOffered() bool {
	return c.extended && c.helo != ""
}

// outOfTurn asks Server.OutOfTurn about cmd (a verb, any case) when the
// client must wait for its reply, and reports true when the hook's
// reply was written in the command's place and the connection closed.
func (c *Conn) outOfTurn(cmd string) bool {
	f := c.server.OutOfTurn
	if f == nil {
		return false
	}
	cmd = strings.ToUpper(cmd)
	if !verbs[cmd] || c.pipeliningOffered() && !groupEnders[cmd] {
		return false
	}
	ahead, _ := c.text.R.Peek(c.text.R.Buffered())
	r := f(c, cmd, ahead)
	if r == nil {
		return false
	}
	c.writeResponse(r.Code, r.EnhancedCode, r.Message)
	c.Close()
	return true
}
