package smtp

import "strings"

// Lines that are no SMTP command at all, Postfix's smtpd_forbidden_commands
// and its header check. Added in Sluice's copy (SLUICE.md).

// httpVerbs are the HTTP methods Postfix's smtpd_forbidden_commands
// names by default: a web client (a browser, or a server fetching a URL
// an attacker chose) that was pointed at the SMTP port. What it sends
// after its request line, the headers and a body, may hold SMTP commands
// the attacker wrote there (cross-protocol request forgery).
var httpVerbs = map[string]bool{"CONNECT": true, "GET": true, "POST": true}

// nonSMTPCommand reports whether line is no SMTP command: its first word
// (up to a space or tab) is CONNECT, GET or POST, in any case, or begins
// with a header field's name and its colon ("Subject:", "From:<a@b>"):
// a message sent as commands, by a client that did not wait for the
// 354 DATA never got, or an HTTP request's header. Postfix's smtpd
// checks an unknown command so (is_header: printable ASCII but space
// and colon, then the colon); no verb handle runs is either.
func nonSMTPCommand(line string) bool {
	word, _, _ := strings.Cut(line, " ")
	word, _, _ = strings.Cut(word, "\t")
	if httpVerbs[strings.ToUpper(word)] {
		return true
	}
	name, _, colon := strings.Cut(word, ":")
	if !colon || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return false
		}
	}
	return true
}

// refuseNonSMTP asks Server.NonSMTPCommand about line when it is no SMTP
// command, and reports true when the hook's reply was written in its
// place and the connection closed.
func (c *Conn) refuseNonSMTP(line string) bool {
	f := c.server.NonSMTPCommand
	if f == nil || !nonSMTPCommand(line) {
		return false
	}
	r := f(c, line)
	if r == nil {
		return false
	}
	c.writeResponse(r.Code, r.EnhancedCode, r.Message)
	c.Close()
	return true
}
