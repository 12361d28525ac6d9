package smtp

import "strings"

// XCLIENT, Postfix's extension (XCLIENT_README; replies as Postfix's
// smtpd gives them). Added in Sluice's copy (SLUICE.md).

// maxXClientValue is the longest attribute value as sent, in octets:
// Postfix's limit, a host name's 255.
const maxXClientValue = 255

// xclientAttributes is what session takes from this client: the
// attribute names EHLO advertises, none when XCLIENT is not allowed.
func xclientAttributes(session Session) []string {
	if xs, ok := session.(XClientSession); ok {
		return xs.XClientAttributes()
	}
	return nil
}

// handleXClient runs XCLIENT attribute=value...: the session takes the
// attributes, then the client starts over from the greeting, as after
// STARTTLS, so that the session's connect-time checks see the client the
// attributes name.
func (c *Conn) handleXClient(arg string) {
	session := c.Session()
	switch {
	case session == nil && !c.xclientBeforeEHLO():
		// EHLO tells the client whether it may use XCLIENT.
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Please introduce yourself first.")
		return
	case c.fromReceived:
		// XCLIENT_README: not "in the middle of a mail delivery
		// transaction".
		c.protocolError(503, EnhancedCode{5, 5, 1}, "Error: MAIL transaction in progress")
		return
	}
	if session == nil {
		// Before EHLO: a session for this command alone (XClientBackend),
		// which counts (and logs) its refusals as a session after EHLO
		// does: a refused proxy is not left unheard of until the
		// connection's error limit.
		xs, err := c.server.Backend.(XClientBackend).NewXClientSession(c)
		if err != nil {
			c.writeError(451, EnhancedCode{4, 0, 0}, err)
			return
		}
		if xs == nil {
			c.protocolError(550, EnhancedCode{5, 7, 0}, "Error: insufficient authorization")
			return
		}
		defer xs.Logout()
		c.xclientSession = xs
		defer func() { c.xclientSession = nil }()
		session = xs
	}
	if arg == "" {
		c.protocolError(501, EnhancedCode{5, 5, 4}, "Syntax: XCLIENT attribute=value...")
		return
	}
	xs, ok := session.(XClientSession)
	allowed := xclientAttributes(session)
	if !ok || len(allowed) == 0 {
		c.protocolError(550, EnhancedCode{5, 7, 0}, "Error: insufficient authorization")
		return
	}
	var attrs []XClientAttr
	for _, field := range strings.Fields(arg) {
		attr, msg := parseXClientAttr(field, allowed)
		if msg != "" {
			c.protocolError(501, EnhancedCode{5, 5, 4}, msg)
			return
		}
		attrs = append(attrs, attr)
	}
	greeting, err := xs.XClient(attrs)
	if err != nil {
		c.writeError(501, EnhancedCode{5, 5, 4}, err)
		return
	}
	// XCLIENT_README: the server then greets anew, and the client says
	// EHLO again; what it said before (its EHLO, AUTH, the session) is
	// gone, as after STARTTLS (RFC 3207 §4.2).
	if session := c.Session(); session != nil {
		session.Logout()
		c.setSession(nil)
	}
	c.helo = ""
	c.extended = false
	c.didAuth = false
	c.reset()
	if greeting != nil {
		c.writeResponse(greeting.Code, greeting.EnhancedCode, greeting.Message)
		c.Close()
		return
	}
	c.greet()
}

// xclientBeforeEHLO reports whether the backend takes XCLIENT from a
// client that has not greeted (XClientBackend).
func (c *Conn) xclientBeforeEHLO() bool {
	_, ok := c.server.Backend.(XClientBackend)
	return ok
}

// parseXClientAttr parses one name=value of XCLIENT, the name one of
// allowed (any case), the value xtext; msg is the 501's text when it is
// not one.
func parseXClientAttr(field string, allowed []string) (attr XClientAttr, msg string) {
	i := strings.IndexByte(field, '=')
	if i <= 0 || i == len(field)-1 {
		return attr, "Error: attribute=value expected"
	}
	name, raw := strings.ToUpper(field[:i]), field[i+1:]
	if len(raw) > maxXClientValue {
		return attr, "Error: attribute value too long"
	}
	known := false
	for _, a := range allowed {
		known = known || a == name
	}
	if !known {
		if len(name) > maxVerbEcho {
			name = name[:maxVerbEcho] + "..."
		}
		return attr, "Bad XCLIENT attribute name: " + printableEcho(name)
	}
	value := xclientValue(raw)
	if strings.IndexFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		// A control character would reach the logs and the headers.
		return attr, "Bad " + name + " syntax: " + printableEcho(raw)
	}
	return XClientAttr{Name: name, Value: value}, ""
}

// xclientValue decodes a value as Postfix's smtpd does (xtext_unquote):
// xtext (RFC 3461 §4) with hex digits of either case, and a value that is
// not xtext as it was sent. Postfix takes the latter from clients that
// predate its 2.3 and encode nothing, as Roundcube's smtp_xclient_login
// still sends a user name (first+last@example.org).
func xclientValue(raw string) string {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '+' {
			b = append(b, raw[i])
			continue
		}
		if i+2 >= len(raw) {
			return raw
		}
		hi, ok1 := unhex(raw[i+1])
		lo, ok2 := unhex(raw[i+2])
		if !ok1 || !ok2 {
			return raw
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b)
}

// unhex is the value of the hex digit c, of either case.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
