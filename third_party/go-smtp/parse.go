package smtp

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cutPrefixFold is a version of strings.CutPrefix which is case-insensitive.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// parseCmd splits a command line into its verb, upper-cased, and its
// argument. Sluice change: trailing white space is dropped first (RFC 5321
// §4.1.1: "SMTP receivers SHOULD tolerate trailing white space before the
// terminating <CRLF>"), so "RSET " is RSET (v0.25.1: 501 Bad command, for
// any 4-letter verb with one trailing space); the verb is the word before
// the first space whatever its length, so a verb that is not one of ours
// ("STARTTLSXYZ") is an unknown command for handle, and STARTTLS keeps its
// argument for handleStartTLS to refuse (v0.25.1 took any line beginning
// with "STARTTLS" for STARTTLS). A line that does not begin with a verb
// (letters, digits, hyphens: RFC 5321 §4.1.1 Keyword) is an error. A
// verb shorter than four letters ("FOO", "NO") is a verb too, unknown:
// v0.25.1 refused it as malformed, with a 501 (arguments) where RFC 5321
// §4.2.4 has 500 for a command not recognized.
func parseCmd(line string) (cmd string, arg string, err error) {
	line = strings.TrimRight(line, "\r\n")
	line = strings.TrimRight(line, " \t")
	if line == "" {
		return "", "", nil
	}
	verb, rest, _ := strings.Cut(line, " ")
	if verb == "" {
		return "", "", fmt.Errorf("mangled command: %q", line)
	}
	for i := 0; i < len(verb); i++ {
		c := verb[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", "", fmt.Errorf("mangled command: %q", line)
		}
	}
	return strings.ToUpper(verb), strings.TrimSpace(rest), nil
}

// esmtpParam is one MAIL or RCPT parameter, its keyword upper case (RFC
// 5321 §4.1.2: esmtp-keyword is case-insensitive).
type esmtpParam struct {
	key, value string
}

// parseArgs splits the arguments following a command's address into
// parameters, in the order the client wrote them, repeats included.
// Sample arg string:
//
//	" BODY=8BITMIME SIZE=1024 SMTPUTF8"
//
// The leading space is mandatory. Sluice change: v0.25.1 returned a map,
// so the parameters were checked in Go's random map order (`SIZE=<too
// big> BODY=FOO` got 552 or 501 by chance) and a repeated one was lost,
// the last taken; the handlers now check them in order and refuse a
// repeat.
func parseArgs(s string) ([]esmtpParam, error) {
	var args []esmtpParam
	for _, arg := range strings.Fields(s) {
		m := strings.Split(arg, "=")
		switch len(m) {
		case 2:
			args = append(args, esmtpParam{strings.ToUpper(m[0]), m[1]})
		case 1:
			args = append(args, esmtpParam{strings.ToUpper(m[0]), ""})
		default:
			return nil, fmt.Errorf("failed to parse arg string: %q", arg)
		}
	}
	return args, nil
}

func parseHelloArgument(arg string) (string, error) {
	domain := arg
	if idx := strings.IndexRune(arg, ' '); idx >= 0 {
		domain = arg[:idx]
	}
	if domain == "" {
		return "", fmt.Errorf("invalid domain")
	}
	return domain, nil
}

// Parses the BY argument defined in RFC2852 section 4.
// Returns pointer to options or nil if invalid.
func parseDeliverByArgument(arg string) *DeliverByOptions {
	secondsStr, modeStr, ok := strings.Cut(arg, ";")
	if !ok {
		return nil
	}
	modeStr, traceValue := strings.CutSuffix(modeStr, "T")
	if modeStr != string(DeliverByNotify) && modeStr != string(DeliverByReturn) {
		return nil
	}
	modeValue := DeliverByMode(modeStr)
	secondsValue, err := strconv.Atoi(secondsStr)
	if err != nil || (modeValue == DeliverByReturn && secondsValue < 1) {
		return nil
	}
	return &DeliverByOptions{
		Time:  time.Duration(secondsValue) * time.Second,
		Mode:  modeValue,
		Trace: traceValue,
	}
}

// parser parses command arguments defined in RFC 5321 section 4.1.2.
type parser struct {
	s string
}

func (p *parser) peekByte() (byte, bool) {
	if len(p.s) == 0 {
		return 0, false
	}
	return p.s[0], true
}

func (p *parser) readByte() (byte, bool) {
	ch, ok := p.peekByte()
	if ok {
		p.s = p.s[1:]
	}
	return ch, ok
}

func (p *parser) acceptByte(ch byte) bool {
	got, ok := p.peekByte()
	if !ok || got != ch {
		return false
	}
	p.readByte()
	return true
}

func (p *parser) expectByte(ch byte) error {
	if !p.acceptByte(ch) {
		if len(p.s) == 0 {
			return fmt.Errorf("expected '%v', got EOF", string(ch))
		} else {
			return fmt.Errorf("expected '%v', got '%v'", string(ch), string(p.s[0]))
		}
	}
	return nil
}

// parseReversePath parses a Reverse-path (RFC 5321 §4.1.2): the null path
// "<>" or a Path. It returns the mailbox and the source route before it,
// if any (see parsePath).
func (p *parser) parseReversePath() (mbox string, route []string, err error) {
	if strings.HasPrefix(p.s, "<>") {
		p.s = strings.TrimPrefix(p.s, "<>")
		return "", nil, nil
	}
	return p.parsePath()
}

// parsePath parses a Path (RFC 5321 §4.1.2), with or without its angle
// brackets. It returns the mailbox and, when the path starts with a source
// route (an A-d-l, "@a,@b:"), the route's domains in order, as the client
// wrote them and without their "@": a route is never empty, so a server can
// tell a routed path from a plain one and refuse it if it wants to. RFC 5321
// Appendix C says a server SHOULD accept and ignore routes, which is what
// the mailbox alone does.
func (p *parser) parsePath() (mbox string, route []string, err error) {
	hasBracket := p.acceptByte('<')
	if p.acceptByte('@') {
		i := strings.IndexByte(p.s, ':')
		if i < 0 {
			return "", nil, fmt.Errorf("malformed a-d-l")
		}
		route = parseADL(p.s[:i])
		p.s = p.s[i+1:]
	}
	mbox, err = p.parseMailbox()
	if err != nil {
		return "", nil, fmt.Errorf("in mailbox: %v", err)
	}
	if hasBracket {
		if err := p.expectByte('>'); err != nil {
			return "", nil, err
		}
	}
	return mbox, route, nil
}

// parseADL splits an A-d-l whose first "@" is already read ("a,@b") into
// its domains. It checks nothing, as parsePath never did: an empty or
// malformed domain is kept as written, so the route is still seen.
func parseADL(s string) []string {
	route := strings.Split(s, ",")
	for i, d := range route {
		route[i] = strings.TrimPrefix(d, "@")
	}
	return route
}

func (p *parser) parseMailbox() (string, error) {
	localPart, err := p.parseLocalPart()
	if err != nil {
		return "", fmt.Errorf("in local-part: %v", err)
	} else if localPart == "" {
		return "", fmt.Errorf("local-part is empty")
	}

	if err := p.expectByte('@'); err != nil {
		return "", err
	}

	var sb strings.Builder
	sb.WriteString(localPart)
	sb.WriteByte('@')

	for {
		ch, ok := p.peekByte()
		if !ok {
			break
		}
		if ch == ' ' || ch == '\t' || ch == '>' {
			break
		}
		p.readByte()
		sb.WriteByte(ch)
	}

	if strings.HasSuffix(sb.String(), "@") {
		return "", fmt.Errorf("domain is empty")
	}

	return sb.String(), nil
}

func (p *parser) parseLocalPart() (string, error) {
	var sb strings.Builder

	if p.acceptByte('"') { // quoted-string
		for {
			ch, ok := p.readByte()
			switch ch {
			case '\\':
				ch, ok = p.readByte()
			case '"':
				return sb.String(), nil
			}
			if !ok {
				return "", fmt.Errorf("malformed quoted-string")
			}
			sb.WriteByte(ch)
		}
	} else { // dot-string
		for {
			ch, ok := p.peekByte()
			if !ok {
				return sb.String(), nil
			}
			switch ch {
			case '@':
				return sb.String(), nil
			case '(', ')', '<', '>', '[', ']', ':', ';', '\\', ',', '"', ' ', '\t':
				return "", fmt.Errorf("malformed dot-string")
			}
			p.readByte()
			sb.WriteByte(ch)
		}
	}
}

// quotePath writes a mailbox the parser unquoted back in the form a path
// needs (RFC 5321 §4.1.2): a local part that is not a dot-string goes in
// quotes, with "\" and the quote escaped. Used in replies, which echo the
// address. Added in Sluice's copy (SLUICE.md).
func quotePath(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local := addr[:at]
	if isDotString(local) {
		return addr
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if local[i] == '\\' || local[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + addr[at:]
}

// isDotString reports whether s is a dot-string: atoms of characters
// other than specials, spaces and controls, joined by single dots.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("()<>[]:;@\\,\"", c) >= 0 {
			return false
		}
	}
	return true
}
