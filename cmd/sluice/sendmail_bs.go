package main

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// smtpStdio is sendmail -bs: an SMTP session on stdin and stdout, as PHP
// mailers (Symfony's by default) and other programs speak to a local
// sendmail. Sluice relays it to the daemon's own listener, so the client
// talks to the real SMTP server — its greeting, checks and replies — from
// a local process. The relay goes in lock-step, each command sent once
// the reply to the one before has come: scripts write a whole session at
// once (printf '...' | sendmail -bs, in cron jobs and old PHP code), which
// the listener's forbid_unauth_pipelining refuses from a network client
// (RFC 2920 §3.1), where Postfix's -bs runs a stand-alone smtpd that does
// not check. It ends at QUIT's reply, when the server closes, or once
// stdin ended and the server closed after it.
func smtpStdio(addr string, stdin io.Reader, stdout io.Writer) error {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return sendmailFail(exUnavailable, "cannot reach the daemon at %s: %v", addr, err)
	}
	defer conn.Close()
	srv := relayReplies(conn, stdout)
	go func() {
		if relayCommands(stdin, conn, srv) {
			_ = conn.Close() // QUIT answered: nothing more to relay
		} else if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // the server sees the end and closes
		}
	}()
	// The server's replies, until it closes. A client that keeps stdin
	// open after the server closed does not hold us.
	<-srv.done
	return nil
}

// maxStdioLine is the longest line relayCommands looks at, far above the
// daemon's max_line_length (4096 octets by default). A longer one is
// passed on in pieces as it is read, for the daemon to refuse, so that a
// 10 MB line takes no memory.
const maxStdioLine = 64 << 10

// relayCommands sends stdin to the server one command at a time, each
// after the reply to the one before, with what follows a command as part
// of it: a message after DATA's 354, a BDAT chunk. It returns true when
// it ended at QUIT's reply; false when stdin ended (the unfinished line
// passed on as it was), a write failed, or the server closed.
func relayCommands(stdin io.Reader, conn net.Conn, srv *serverReplies) (quit bool) {
	in := bufio.NewReaderSize(stdin, maxStdioLine)
	out := bufio.NewWriter(conn)
	// The greeting first: a client that talks before it is refused
	// (greet_pause, RFC 5321 §4.3.1).
	if _, ok := srv.reply(); !ok {
		return false
	}
	for {
		// A command ended by a bare LF goes on ended by CRLF, as Postfix's
		// -bs, a stand-alone smtpd, never refuses one: a listener with
		// bare_newline = "reject" refuses such command lines from the
		// network (RFC 5321 §2.3.8), and loopback need not be spared.
		line, _, err := copyLine(in, out, true)
		if err != nil {
			_ = out.Flush()
			return false
		}
		verb, arg := commandVerb(line)
		if verb == "BDAT" {
			// The chunk follows its command unasked (RFC 3030 §2) and
			// may hold anything, a "." line and commands included.
			if size, ok := chunkSize(arg); ok {
				if _, err := io.CopyN(out, in, size); err != nil {
					_ = out.Flush()
					return false
				}
			}
		}
		if out.Flush() != nil {
			return false
		}
		code, ok := srv.reply()
		switch {
		case !ok:
			return false
		case verb == "QUIT":
			return true
		case verb == "STARTTLS" && code == 220:
			// TLS over a pipe: from here the bytes are records, which
			// pass as they come.
			_, _ = io.Copy(conn, in)
			return false
		case code == 354: // DATA's go-ahead (RFC 5321 §4.1.1.4)
			whole := relayMessage(in, out)
			if out.Flush() != nil || !whole {
				return false
			}
			if _, ok := srv.reply(); !ok {
				return false
			}
		}
	}
}

// copyLine passes one line of stdin on, up to and with its LF, its other
// bytes as they are (a lone CR too). With fixLF, a line ended by a bare
// LF goes on ended by CRLF, as a command's and a message's lines must
// reach a daemon that refuses a bare LF (bare_newline = "reject", RFC
// 5321 §2.3.8) and as Postfix's -bs takes them. It returns
// the line as read if it fit in in's buffer (nil for a longer one),
// whether it went on ended by CRLF, and an error when stdin ended (what
// came of the line passed on) or a write failed.
func copyLine(in *bufio.Reader, out *bufio.Writer, fixLF bool) (line []byte, crlf bool, err error) {
	var last byte // the last octet of a long line's previous piece
	for long := false; ; long = true {
		l, err := in.ReadSlice('\n')
		n := len(l)
		if err == nil {
			crlf = n >= 2 && l[n-2] == '\r' || n == 1 && last == '\r'
		}
		w := l
		if err == nil && fixLF && !crlf {
			w = l[:n-1]
		}
		if _, werr := out.Write(w); werr != nil {
			return nil, false, werr
		}
		if len(w) < n {
			if _, werr := out.WriteString("\r\n"); werr != nil {
				return nil, false, werr
			}
			crlf = true
		}
		if err == bufio.ErrBufferFull {
			last = l[n-1]
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if long {
			return nil, crlf, nil
		}
		return l, crlf, nil
	}
}

// relayMessage passes the message after DATA's 354 on, dot-stuffing
// and all, its lines ended by CRLF (a bare LF becomes CRLF: a script's
// printf '...\n' is a local user's message, not SMTP smuggling), up to
// and with the "." line that ends it, and reports whether it got there.
// The end is the daemon's: ".\r\n" at the message's start or after a
// CRLF (RFC 5321 §4.1.1.4); a "." after a lone CR is text there, so it is
// here, or the relay would wait for a reply the daemon does not send.
func relayMessage(in *bufio.Reader, out *bufio.Writer) bool {
	start := true // at the start of a line, after a CRLF
	for {
		line, crlf, err := copyLine(in, out, true)
		if err != nil {
			return false
		}
		if start && (bytes.Equal(line, []byte(".\r\n")) || bytes.Equal(line, []byte(".\n"))) {
			return true
		}
		start = crlf
	}
}

// commandVerb splits a command line as the daemon does (go-smtp's
// parseCmd): trailing white space dropped, the verb upper-cased.
func commandVerb(line []byte) (verb, arg string) {
	s := strings.TrimRight(strings.TrimRight(string(line), "\r\n"), " \t")
	verb, arg, _ = strings.Cut(s, " ")
	return strings.ToUpper(verb), arg
}

// chunkSize is how many octets follow "BDAT arg" (RFC 3030 §2), and
// false where the daemon reads none: without a size it can take it ends
// the session.
func chunkSize(arg string) (int64, bool) {
	f := strings.Fields(arg)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil || n > math.MaxUint32 {
		return 0, false
	}
	return int64(n), true
}

// serverReplies is the server's side of the relay: what it sends is
// copied to stdout as it comes, and the code of each complete reply is
// passed on, for the client's next command to wait for.
type serverReplies struct {
	codes chan int
	done  chan struct{} // closed once the server closed or stdout failed
}

func relayReplies(conn net.Conn, stdout io.Writer) *serverReplies {
	s := &serverReplies{codes: make(chan int, 64), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var buf [4096]byte
		var lines replyLines
		for {
			n, err := conn.Read(buf[:])
			if n > 0 {
				if _, err := stdout.Write(buf[:n]); err != nil {
					return
				}
				lines.scan(buf[:n], s.codes)
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// reply waits for the next reply's code; false once the server closed.
func (s *serverReplies) reply() (int, bool) {
	select {
	case code := <-s.codes:
		return code, true
	case <-s.done:
		return 0, false
	}
}

// replyLines finds where the server's replies end: every line of a reply
// but the last has "-" after its code (RFC 5321 §4.2.1). Only a line's
// first four octets are kept, however long it is.
type replyLines struct {
	head [4]byte
	n    int // octets of the current line so far
}

func (p *replyLines) scan(b []byte, codes chan<- int) {
	for _, c := range b {
		if c != '\n' {
			if p.n < len(p.head) {
				p.head[p.n] = c
			}
			p.n++
			continue
		}
		if p.n < 4 || p.head[3] != '-' {
			code, err := strconv.Atoi(string(p.head[:min(p.n, 3)]))
			if err != nil || p.n < 3 {
				code = 0 // not a reply code; still a line that ends one
			}
			select {
			case codes <- code:
			default:
				// No one reads them any more: after STARTTLS's 220 the
				// bytes are TLS records, their LFs no replies.
			}
		}
		p.n = 0
	}
}
