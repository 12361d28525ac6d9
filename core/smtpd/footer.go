package smtpd

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/rejectfooter"
)

// A listener's banner is the greeting's text after the host name (the
// hostname always comes first, RFC 5321 §4.3.1), and its reject_footer
// (Postfix's smtpd_reject_footer) lines added to each 4xx and 5xx reply
// it sends: as Postfix's smtpd_chat_reply, every one, a stage's or a
// milter's refusal, a limit's, go-smtp's syntax and sequence errors, the
// 421s that end a session (Shutdown's included) and the refusals in the
// greeting's place. Each footer line repeats the reply's code and
// enhanced code (RFC 5321 §4.2.1, RFC 2034 §4), or with "\c" the first
// goes on the end of the reply's last line. soft_bounce turns the codes
// first, so the footer's lines carry the 4xx the client gets. The
// footer is the client's alone: log lines give the reply without it, as
// Postfix logs none. A connection keeps the banner and footer its
// listener had when it was accepted.

// footerOf is a listener's reject_footer as it runs: nil for none.
func footerOf(tmpl string) *rejectfooter.Footer {
	f, err := rejectfooter.Parse(tmpl)
	if err != nil {
		// config.Parse refused it already; a config built by hand
		// that gets here runs without a footer.
		return nil
	}
	return f
}

// greeting is go-smtp's Greeting: the text after the host name.
func (s *Server) greeting(sc *smtp.Conn) string {
	if c := connOf(sc); c != nil {
		return c.banner
	}
	return ""
}

// replyLines is go-smtp's ReplyLines: the footer after a 4xx or 5xx.
// Every reply passes here, so one that is not footed returns before the
// enhanced code is formatted: a clean session's 250s cost nothing. It
// also notes the replies that end the connection (noteReply).
func (s *Server) replyLines(sc *smtp.Conn, code int, ec smtp.EnhancedCode, lines []string) []string {
	c := connOf(sc)
	if c != nil {
		c.noteReply(code, lines)
	}
	if c == nil || !c.foots(code) {
		return lines
	}
	enh := ""
	if ec != smtp.NoEnhancedCode {
		enh = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	return c.footed(code, enh, lines)
}

// footed is a reply's text lines with the connection's footer after
// them when code is a 4xx or 5xx; enh is the enhanced code as written
// ("" for none), whose length counts towards a joined line's.
func (c *conn) footed(code int, enh string, lines []string) []string {
	if !c.foots(code) {
		return lines
	}
	lead := len("550-") + len("\r\n")
	if enh != "" {
		lead += len(enh) + len(" ")
	}
	return c.footer.Append(lines, lead, c.footerVars())
}

// foots reports whether a reply with code gets the footer: a 4xx or 5xx
// on a connection that has one.
func (c *conn) foots(code int) bool {
	return c.footer != nil && code >= 400 && code <= 599
}

// footerVars are the macros' values now: the client as PROXY or XCLIENT
// named it, the server's clock. c.clientMu guards the client against
// relayedBy, for Shutdown's 421, written from another goroutine.
func (c *conn) footerVars() rejectfooter.Vars {
	v := rejectfooter.Vars{
		ClientAddress: "unknown",
		ClientPort:    "unknown",
		LocalTime:     c.srv.clock().Format(rejectfooter.LocalTimeLayout),
		Hostname:      c.srv.cfg.Hostname,
		Listener:      c.info.Listener,
	}
	c.clientMu.Lock()
	client := c.info.Client
	c.clientMu.Unlock()
	if client.IsValid() {
		v.ClientAddress = client.Addr().String()
		if client.Port() != 0 { // XCLIENT ADDR without PORT
			v.ClientPort = strconv.Itoa(int(client.Port()))
		}
	}
	return v
}

// wire is r as the client gets it, for the replies written to the socket
// rather than through go-smtp (the greeting's place, Shutdown's 421, a
// session aborted): turned by soft_bounce, footed, each line CRLF-ended
// with the code and enhanced code.
func (c *conn) wire(r *reply.Reply) string {
	r = c.srv.sent(r)
	enh := ""
	if r.Enhanced != [3]int{} {
		enh = fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
	}
	lines := c.footed(r.Code, enh, strings.Split(r.Text, "\n"))
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString(strconv.Itoa(r.Code) + sep)
		if enh != "" {
			b.WriteString(enh + " ")
		}
		b.WriteString(l + "\r\n")
	}
	return b.String()
}
