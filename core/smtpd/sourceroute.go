package smtpd

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
)

// Source routes (RFC 5321 §4.1.2 A-d-l, "<@a,@b:user@c>") are refused
// here, although RFC 5321 Appendix C says a server SHOULD accept and ignore
// them: a route is a relay trick's vehicle, and nothing legitimate has sent
// one in decades. go-smtp v0.25.1 drops the route before Session.Mail and
// Session.Rcpt see the address, so the conn reads it from the raw command
// lines: routeScanner follows the byte stream as go-smtp does (command
// lines, DATA payloads, BDAT chunks) and numbers the client's commands;
// the replies go-smtp writes number the commands it has answered, so when
// Mail or Rcpt runs, the command at hand is the first one not yet answered.
//
// Only plaintext is seen: under implicit TLS the conn carries ciphertext
// from the start, and after STARTTLS go-smtp reads through a tls.Conn of
// its own with no hook above it. There the scanner stops and a route is
// dropped by go-smtp as before; what is left is judged like any address,
// so a route adds nothing to a relay attempt either way.

// scanMode is what the scanner takes the client's next bytes for.
type scanMode int

const (
	scanCommand scanMode = iota // command lines
	scanHeld                    // after DATA or STARTTLS: kept until its reply
	scanData                    // a DATA payload, up to its "." line
	scanChunk                   // a BDAT chunk
	scanOff                     // TLS, or lost: nothing more is seen
)

// The states of go-smtp's dataReader, which ends a payload at CRLF "."
// CRLF (RFC 5321 §4.1.1.4) exactly as it does.
const (
	dotBeginLine = iota
	dotDot
	dotDotCR
	dotCR
	dotData
	dotEOF
)

// maxHeld bounds what is kept after DATA or STARTTLS. go-smtp answers
// either before it reads further, so one read buffer (4 KiB) is the most
// that can wait; more means the scanner has lost track.
const maxHeld = 64 << 10

// routedPath is a MAIL or RCPT command whose path had a source route.
type routedPath struct {
	seq  int    // the command's number on the connection
	verb string // "MAIL" or "RCPT"
	addr string // the mailbox go-smtp passes on, without the route
}

// routeScanner follows one connection's plaintext; see the top of the file.
type routeScanner struct {
	mu      sync.Mutex
	mode    scanMode
	maxLine int

	line []byte // the command line read so far
	long bool   // the line is past maxLine: go-smtp refuses it anyway

	held     []byte // bytes read after DATA or STARTTLS, before its reply
	heldSeq  int    // the command awaiting that reply
	heldData bool   // it is DATA (else STARTTLS)
	dot      int    // dataReader state in a DATA payload
	chunk    uint64 // BDAT chunk bytes still to come

	reply    []byte // the first bytes of the reply line being written
	greeted  bool   // the greeting, which answers no command, is out
	commands int    // commands read, the payload of an accepted DATA included
	answered int    // final reply lines written after the greeting

	routed []routedPath
}

// newRouteScanner returns a scanner for a connection in the clear; off
// means TLS from the first byte.
func newRouteScanner(maxLine int, off bool) *routeScanner {
	r := &routeScanner{maxLine: max(maxLine+2, 4096)}
	if off {
		r.mode = scanOff
	}
	return r
}

// read takes bytes the client sent, as go-smtp reads them.
func (r *routeScanner) read(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.feed(p)
}

func (r *routeScanner) feed(p []byte) {
	for len(p) > 0 {
		switch r.mode {
		case scanOff:
			return
		case scanHeld:
			if len(r.held)+len(p) > maxHeld {
				r.stop()
				return
			}
			r.held = append(r.held, p...)
			return
		case scanChunk:
			k := min(uint64(len(p)), r.chunk)
			r.chunk -= k
			p = p[k:]
			if r.chunk == 0 {
				r.mode = scanCommand
			}
		case scanData:
			i := 0
			for i < len(p) && r.dot != dotEOF {
				if r.dot == dotData {
					// Inside a line only CR matters: skip to it.
					j := bytes.IndexByte(p[i:], '\r')
					if j < 0 {
						i = len(p)
						break
					}
					i += j
				}
				r.dot = nextDot(r.dot, p[i])
				i++
			}
			p = p[i:]
			if r.dot == dotEOF {
				r.mode = scanCommand
			}
		case scanCommand:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				r.addToLine(p)
				return
			}
			r.addToLine(p[:i])
			p = p[i+1:]
			r.command()
		}
	}
}

// nextDot is one step of go-smtp's dataReader state machine.
func nextDot(state int, c byte) int {
	switch state {
	case dotBeginLine:
		switch c {
		case '.':
			return dotDot
		case '\r':
			return dotCR
		}
	case dotDot:
		if c == '\r' {
			return dotDotCR
		}
	case dotDotCR:
		if c == '\n' {
			return dotEOF
		}
	case dotCR:
		if c == '\n' {
			return dotBeginLine
		}
	case dotData:
		if c == '\r' {
			return dotCR
		}
	}
	return dotData
}

func (r *routeScanner) addToLine(p []byte) {
	if r.long || len(r.line)+len(p) > r.maxLine {
		r.long, r.line = true, r.line[:0]
		return
	}
	r.line = append(r.line, p...)
}

// command numbers a complete command line and looks at it as go-smtp's
// parseCmd does.
func (r *routeScanner) command() {
	seq := r.commands
	r.commands++
	line, long := strings.TrimRight(string(r.line), "\r\n"), r.long
	r.line, r.long = r.line[:0], false
	if long {
		return
	}
	if strings.HasPrefix(strings.ToUpper(line), "STARTTLS") {
		r.hold(seq, false)
		return
	}
	if len(line) < 4 || len(line) == 5 || len(line) > 5 && line[4] != ' ' {
		return
	}
	verb, arg := strings.ToUpper(line[:4]), ""
	if len(line) > 5 {
		arg = strings.TrimSpace(line[5:])
	}
	switch verb {
	case "DATA":
		if arg == "" {
			r.hold(seq, true)
		}
	case "BDAT":
		if n, ok := bdatSize(arg); ok && n > 0 {
			r.mode, r.chunk = scanChunk, n
		}
	case "MAIL":
		if path, ok := cutPrefixFold(arg, "FROM:"); ok {
			r.path(seq, verb, path)
		}
	case "RCPT":
		if path, ok := cutPrefixFold(arg, "TO:"); ok {
			r.path(seq, verb, path)
		}
	}
}

// hold keeps what follows DATA or STARTTLS until go-smtp answers it: a 354
// makes it a payload, a 220 makes it TLS, anything else leaves commands.
func (r *routeScanner) hold(seq int, data bool) {
	r.mode, r.heldSeq, r.heldData = scanHeld, seq, data
}

// bdatSize parses a BDAT argument as go-smtp does; it consumes the chunk
// exactly when this succeeds (RFC 3030 §2: even when it refuses it).
func bdatSize(arg string) (uint64, bool) {
	args := strings.Fields(arg)
	if len(args) == 0 || len(args) > 2 || len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
		return 0, false
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	return n, err == nil
}

// path records a MAIL or RCPT path that starts with a route, together with
// the mailbox go-smtp takes from it (its parser.parsePath).
func (r *routeScanner) path(seq int, verb, s string) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<>") {
		return
	}
	bracket := strings.HasPrefix(s, "<")
	s = strings.TrimPrefix(s, "<")
	if !strings.HasPrefix(s, "@") {
		return
	}
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return // go-smtp refuses it: "malformed a-d-l"
	}
	addr, rest, ok := pathMailbox(s[i+1:])
	if !ok || bracket && !strings.HasPrefix(rest, ">") {
		return // go-smtp refuses it with a 501
	}
	r.routed = append(r.routed, routedPath{seq: seq, verb: verb, addr: addr})
}

// pathMailbox reads a Mailbox as go-smtp's parser.parseMailbox does,
// unquoting a quoted local part, and returns what follows it.
func pathMailbox(s string) (addr, rest string, ok bool) {
	var sb strings.Builder
	i := 0
	if strings.HasPrefix(s, `"`) {
		for i = 1; ; i++ {
			if i >= len(s) {
				return "", "", false
			}
			c := s[i]
			if c == '"' {
				i++
				break
			}
			if c == '\\' {
				if i++; i >= len(s) {
					return "", "", false
				}
				c = s[i]
			}
			sb.WriteByte(c)
		}
	} else {
		for ; i < len(s) && s[i] != '@'; i++ {
			if strings.IndexByte(`()<>[]:;\," `+"\t", s[i]) >= 0 {
				return "", "", false
			}
			sb.WriteByte(s[i])
		}
	}
	if sb.Len() == 0 || i >= len(s) || s[i] != '@' {
		return "", "", false
	}
	sb.WriteByte('@')
	i++
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '>' {
		j++
	}
	if j == i {
		return "", "", false
	}
	sb.WriteString(s[i:j])
	return sb.String(), s[j:], true
}

// wrote takes bytes go-smtp (or the session) wrote to the client and
// counts the final lines of replies (RFC 5321 §4.2.1: "NNN " or "NNN").
func (r *routeScanner) wrote(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range p {
		if c != '\n' {
			if len(r.reply) < 4 {
				r.reply = append(r.reply, c)
			}
			continue
		}
		final := len(r.reply) < 4 || r.reply[3] != '-'
		code := string(r.reply[:min(len(r.reply), 3)])
		r.reply = r.reply[:0]
		if final {
			r.answer(code)
		}
	}
}

// answer counts one reply; if it answers the held DATA or STARTTLS, it
// decides what the held bytes are.
func (r *routeScanner) answer(code string) {
	if r.mode == scanOff {
		return
	}
	if !r.greeted {
		r.greeted = true
		return
	}
	seq := r.answered
	r.answered++
	if r.mode != scanHeld || seq != r.heldSeq {
		return
	}
	held := r.held
	r.held = nil
	switch {
	case r.heldData && code == "354":
		// The payload is a command of its own, answered by one reply.
		r.mode, r.dot = scanData, dotBeginLine
		r.commands++
	case !r.heldData && code == "220":
		r.stop()
		return
	default:
		r.mode = scanCommand
	}
	r.feed(held)
}

func (r *routeScanner) stop() {
	r.mode, r.held, r.line, r.routed = scanOff, nil, nil, nil
}

// take reports whether the command go-smtp is handling now, a MAIL or RCPT
// (verb) for addr, had a source route, and forgets routes of commands
// answered already.
func (r *routeScanner) take(verb, addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.answered
	found := false
	keep := r.routed[:0]
	for _, p := range r.routed {
		switch {
		case p.seq < seq:
		case p.seq == seq && p.verb == verb && p.addr == addr:
			found = true
		default:
			keep = append(keep, p)
		}
	}
	r.routed = keep
	return found
}
