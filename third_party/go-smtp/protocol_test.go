package smtp_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The protocol fixes of Sluice's copy (SLUICE.md), each driven through a
// real connection with exact replies.

// rawClient talks SMTP a byte at a time if need be, and reads replies
// with a deadline so that a server that says nothing fails the test.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, fn ...serverConfigureFunc) (*backend, *smtp.Server, *rawClient) {
	t.Helper()
	be, s, c, _ := testServer(t, fn...)
	t.Cleanup(func() { c.Close(); s.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	rc.expect("220 localhost ESMTP Service Ready")
	return be, s, rc
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write %q: %v", s, err)
	}
}

func (rc *rawClient) line() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read reply: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (rc *rawClient) expect(want ...string) {
	rc.t.Helper()
	for _, w := range want {
		if got := rc.line(); got != w {
			rc.t.Fatalf("got reply %q, want %q", got, w)
		}
	}
}

// cmd sends one command line and expects one reply line.
func (rc *rawClient) cmd(line, want string) {
	rc.t.Helper()
	rc.send(line + "\r\n")
	rc.expect(want)
}

// ehlo greets and skips the capabilities.
func (rc *rawClient) ehlo() {
	rc.t.Helper()
	rc.send("EHLO localhost\r\n")
	for {
		l := rc.line()
		if strings.HasPrefix(l, "250 ") {
			return
		}
		if !strings.HasPrefix(l, "250-") {
			rc.t.Fatalf("EHLO reply %q", l)
		}
	}
}

// expectClosed asserts the server closed the connection with nothing more
// to say.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := rc.r.ReadString('\n')
	if err == nil || l != "" {
		rc.t.Fatalf("got %q (err %v), want the connection closed", l, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatal("connection still open")
	}
}

func readTimeout(d time.Duration) serverConfigureFunc {
	return func(s *smtp.Server) { s.ReadTimeout = d }
}

// Item 1: a command line cut by the read timeout is not run, and the rest
// of it is not read as another command (RFC 5321 §4.5.3.2.7).
func TestServerTimeoutMidLine(t *testing.T) {
	be, _, rc := dialRaw(t, readTimeout(300*time.Millisecond))
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.send("RCPT TO:<u@exa")
	rc.expect("421 4.4.2 Idle timeout, bye bye")
	rc.expectClosed()
	if len(be.messages)+len(be.anonmsgs) != 0 {
		t.Fatal("a message went through")
	}
}

// A line ending at the end of the connection is not a line either.
func TestServerPartialLineAtEOF(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.send("QUIT")
	rc.c.(*net.TCPConn).CloseWrite()
	rc.expectClosed()
}

// One byte every so often does not keep a command line open past the read
// timeout: the deadline is set once per line.
func TestServerSlowLine(t *testing.T) {
	_, _, rc := dialRaw(t, readTimeout(500*time.Millisecond))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, b := range []byte("NOOP and some more text\r\n") {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := rc.c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	start := time.Now()
	rc.expect("421 4.4.2 Idle timeout, bye bye")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closed after %v; the line took 2.5s to send", took)
	}
	rc.expectClosed()
}

// An AUTH response cut by the timeout ends the session as a command would.
func TestServerTimeoutMidAuthResponse(t *testing.T) {
	_, _, rc := dialRaw(t, readTimeout(300*time.Millisecond))
	rc.ehlo()
	rc.cmd("AUTH PLAIN", "334 ")
	rc.send("AHVzZXJuYW1lAHBhc3N3b3")
	rc.expect("421 4.4.2 Idle timeout, bye bye")
	rc.expectClosed()
}

// Item 2: ".\r" followed by another byte loses only the dot, as in
// net/textproto: the bare CR reaches the session.
func TestServerDataDotCR(t *testing.T) {
	be, _, rc := dialRaw(t)
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	rc.send("line1\r\n.\rfoo\r\n.\r\n")
	rc.expect("250 2.0.0 OK: queued")
	if len(be.anonmsgs) != 1 || string(be.anonmsgs[0].Data) != "line1\r\n\rfoo\r\n" {
		t.Fatalf("messages %v", be.anonmsgs)
	}
}

// Item 3: a timeout in the middle of a BDAT chunk gets DATA's 421 4.4.2,
// and the connection closes.
func TestServerBdatTimeoutMidChunk(t *testing.T) {
	be, _, rc := dialRaw(t, readTimeout(300*time.Millisecond))
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.send("BDAT 10 LAST\r\nabc")
	rc.expect("421 4.4.2 Timeout waiting for data, closing connection")
	rc.expectClosed()
	if len(be.anonmsgs) != 0 {
		t.Fatal("a message went through")
	}
}

// A chunk cut short by the end of the connection is no chunk.
func TestServerBdatEOFMidChunk(t *testing.T) {
	be, _, rc := dialRaw(t)
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.send("BDAT 10 LAST\r\nabc")
	rc.c.(*net.TCPConn).CloseWrite()
	rc.expect("421 4.4.0 Connection error, sorry")
	rc.expectClosed()
	if len(be.anonmsgs) != 0 {
		t.Fatalf("a truncated message went through: %q", be.anonmsgs[0].Data)
	}
}

// Item 4: the chunk of a malformed BDAT is read and dropped, never run as
// commands; without a size the session ends.
func TestServerBdatMalformed(t *testing.T) {
	be, _, rc := dialRaw(t)
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.send("BDAT 6 FIRST\r\nQUIT\r\n")
	rc.expect("501 5.5.4 Unknown BDAT argument")
	rc.send("BDAT 6 LAST more\r\nQUIT\r\n")
	rc.expect("501 5.5.4 Too many arguments")
	rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	rc.send("BDAT 6x LAST\r\nQUIT\r\n")
	rc.expect("501 5.5.4 Malformed size argument, closing connection")
	rc.expectClosed()
	if len(be.anonmsgs) != 0 {
		t.Fatal("a message went through")
	}

	_, _, rc = dialRaw(t)
	rc.ehlo()
	rc.send("BDAT\r\n")
	rc.expect("501 5.5.4 Missing chunk size argument, closing connection")
	rc.expectClosed()
}

// Item 5: the reply codes RFC 5321 §4.2.4, §4.1.1.11 and RFC 4954 §4 give.
func TestServerReplyCodes(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.cmd("MAIL FROM:<a@example.net>", "503 5.5.1 Please introduce yourself first.")
	rc.cmd("AUTH PLAIN", "503 5.5.1 Please introduce yourself first.")
	rc.ehlo()
	rc.cmd("RCPT TO:<u@example.org>", "503 5.5.1 Missing MAIL FROM command.")
	rc.cmd("MAIL FROM:<a@example.net> FOO=BAR", "555 5.5.4 Unknown MAIL FROM argument")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org> SIZE=1", "555 5.5.4 Unknown RCPT TO argument")
	rc.cmd("RSET foo", "501 5.5.4 RSET command should not have any arguments")
	// RSET foo reset nothing: the transaction is still open.
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("RSET", "250 2.0.0 Session reset")
	rc.cmd("AUTH", "501 5.5.4 Missing parameter")
	rc.cmd("AUTH PLAIN !!!notbase64", "501 5.5.2 Invalid base64 data")
	rc.cmd("AUTH PLAIN", "334 ")
	rc.cmd("!!!", "501 5.5.2 Invalid base64 data")
}

// Item 6: the server's domain first (RFC 5321 §4.1.1.1), no enhanced code
// for HELO (RFC 2034 §3), and no control character echoed.
func TestServerGreetingReplies(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.cmd("HELO c3", "250 localhost Hello c3")
	rc.send("EHLO c\x1b[2J\x7f\xc3\xa9.test\r\n")
	rc.expect("250-localhost Hello c?[2J???.test")
	for l := rc.line(); !strings.HasPrefix(l, "250 "); l = rc.line() {
	}
	rc.cmd("HELO a\x01b", "250 localhost Hello a?b")
}

// Item 7: RFC 1870 — a message of exactly the SIZE advertised passes, one
// byte more does not, in DATA and in BDAT.
func TestServerSizeExact(t *testing.T) {
	body := strings.Repeat("0123456789abcdef\r\n", 5) // 90 bytes
	for _, tc := range []struct {
		max  int64
		want string
	}{
		{90, "250 2.0.0 OK: queued"},
		{89, "552 5.3.4 Maximum message size exceeded"},
	} {
		_, s, rc := dialRaw(t, func(s *smtp.Server) { s.MaxMessageBytes = tc.max })
		rc.ehlo()
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
		rc.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		rc.send(body + ".\r\n")
		rc.expect(tc.want)
		rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")

		want := "250 2.0.0 OK: queued"
		if tc.max < 90 {
			want = "552 5.3.4 Max message size exceeded"
		}
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
		rc.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
		rc.expect(want)
		rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		s.Close()
	}
}

// RFC 1870 §3: SIZE is 1*20DIGIT. A size past 32 bits, or past what an
// int64 holds, is a message too large (552), not a syntax error (501),
// which v0.25.1 answered; more than 20 digits or no digits is one.
func TestServerSizeParameter(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.MaxMessageBytes = 1 << 20 })
	rc.ehlo()
	for _, size := range []string{"5000000000", "18446744073709551615", "99999999999999999999", "1048577"} {
		rc.cmd("MAIL FROM:<a@example.net> SIZE="+size, "552 5.3.4 Max message size exceeded")
	}
	for _, size := range []string{"999999999999999999999", "-1", "1e9", ""} {
		rc.cmd("MAIL FROM:<a@example.net> SIZE="+size, "501 5.5.4 Unable to parse SIZE as an integer")
	}
	rc.cmd("MAIL FROM:<a@example.net> SIZE=1048576", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	// Without a limit, a large size is just a size.
	_, _, rc = dialRaw(t)
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net> SIZE=5000000000", "250 2.0.0 Roger, accepting mail from <a@example.net>")
}

// countingSession is a session that counts protocol errors itself.
type countingSession struct {
	*session
	limit int
	mu    sync.Mutex
	seen  []string
}

func (s *countingSession) ProtocolError(code int, ec smtp.EnhancedCode, msg string) *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, fmt.Sprintf("%d %d.%d.%d %s", code, ec[0], ec[1], ec[2], msg))
	if len(s.seen) > s.limit {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many errors"}
	}
	return nil
}

var _ smtp.ErrorCounter = (*countingSession)(nil)

// Item 8: an ErrorCounter session is told of every error reply the server
// gives itself — unknown, malformed and out-of-sequence commands, bad
// arguments — and ends the connection with its reply, given in place of
// the error's.
func TestServerErrorCounter(t *testing.T) {
	var sess *countingSession
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		be := s.Backend.(*backend)
		s.Backend = smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
			sess = &countingSession{session: &session{backend: be, anonymous: true}, limit: 4}
			return sess, nil
		})
	})
	rc.ehlo()
	rc.cmd("XYZW", "500 5.5.2 Syntax errors, XYZW command unrecognized")
	rc.cmd("RCPT TO:<u@example.org>", "503 5.5.1 Missing MAIL FROM command.")
	rc.cmd("MAIL FROM:<a@example.net> FOO=BAR", "555 5.5.4 Unknown MAIL FROM argument")
	rc.cmd("MAIL FROM:a", "501 5.5.2 Was expecting MAIL arg syntax of FROM:<address>")
	// Neither a refusal from the session nor a success is counted.
	rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	// The fifth gets the session's reply in place of its own.
	rc.cmd("DATA x", "421 4.7.0 Too many errors")
	rc.expectClosed()
	want := []string{
		"500 5.5.2 Syntax errors, XYZW command unrecognized",
		"503 5.5.1 Missing MAIL FROM command.",
		"555 5.5.4 Unknown MAIL FROM argument",
		"501 5.5.2 Was expecting MAIL arg syntax of FROM:<address>",
		"501 5.5.4 DATA command should not have any arguments",
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if strings.Join(sess.seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors reported:\n%s\nwant:\n%s", strings.Join(sess.seen, "\n"), strings.Join(want, "\n"))
	}
}

// A session without ErrorCounter keeps go-smtp's own limit: the fourth
// unknown command ends the connection; other errors are not counted.
func TestServerErrorThreshold(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.ehlo()
	for i := 0; i < 5; i++ {
		rc.cmd("RCPT TO:<u@example.org>", "503 5.5.1 Missing MAIL FROM command.")
	}
	for i := 0; i < 3; i++ {
		rc.cmd("XYZW", "500 5.5.2 Syntax errors, XYZW command unrecognized")
	}
	rc.send("XYZW\r\n")
	rc.expect("500 5.5.2 Syntax errors, XYZW command unrecognized", "500 5.5.1 Too many errors. Quiting now")
	rc.expectClosed()
}

// A command line longer than the read buffer (4096 octets) is read whole
// when MaxLineLength allows it.
func TestServerLongCommandLine(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.MaxLineLength = 20000 })
	rc.cmd("NOOP "+strings.Repeat("x", 9000), "250 2.0.0 I have successfully done nothing")
	rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
}

// greetSession records, at each MAIL, whether the client greeted with EHLO.
type greetSession struct {
	*session
	c    *smtp.Conn
	seen chan bool
}

func (g greetSession) Mail(from string, opts *smtp.MailOptions) error {
	g.seen <- g.c.Extended()
	return g.session.Mail(from, opts)
}

// RFC 5321 §4.1.1.3, §4.5.1: RCPT TO:<Postmaster> without a domain is
// accepted (in any case) and reaches the backend as "postmaster"; and
// Conn.Extended tells an EHLO session from a HELO one (RFC 3848).
func TestServerPostmasterAndExtended(t *testing.T) {
	be := &backend{}
	seen := make(chan bool, 2)
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		s.Backend = smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
			return greetSession{session: &session{backend: be, anonymous: true}, c: c, seen: seen}, nil
		})
	})
	rc.cmd("HELO c3", "250 localhost Hello c3")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	if ext := <-seen; ext {
		t.Error("Extended after HELO")
	}
	rc.cmd("RCPT TO:<PostMaster>", "250 2.0.0 I'll make sure <postmaster> gets this")
	rc.cmd("RCPT TO:<postmaster@example.org>", "250 2.0.0 I'll make sure <postmaster@example.org> gets this")
	rc.cmd("RCPT TO:<postmasterx>", "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>")
	rc.cmd("RSET", "250 2.0.0 Session reset")
	rc.send("EHLO c3\r\n")
	for l := rc.line(); !strings.HasPrefix(l, "250 "); l = rc.line() {
	}
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	if ext := <-seen; !ext {
		t.Error("not Extended after EHLO")
	}
}

// RFC 4954 §4, §6: an AUTH exchange line longer than the server takes
// fails the AUTH with 500 5.5.6 (v0.25.1: a command line's 5.5.2), and the
// connection is closed, the rest of the line unread; a "*" cancels with
// 501 5.7.0 (v0.25.1: 5.0.0), as Postfix's "501 5.7.0 Authentication
// aborted"; a success is 235 2.7.0 (v0.25.1: 2.0.0).
func TestServerAuthReplyCodes(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.MaxLineLength = 1000 })
	rc.ehlo()
	rc.cmd("AUTH PLAIN", "334 ")
	rc.cmd("*", "501 5.7.0 Negotiation cancelled")
	rc.cmd("AUTH PLAIN AHVzZXJuYW1lAHBhc3N3b3Jk", "235 2.7.0 Authentication succeeded")

	_, _, rc = dialRaw(t, func(s *smtp.Server) { s.MaxLineLength = 1000 })
	rc.ehlo()
	rc.cmd("AUTH PLAIN", "334 ")
	rc.send(strings.Repeat("QUFB", 1000) + "\r\n")
	rc.expect("500 5.5.6 Authentication Exchange line is too long, closing connection")
	rc.expectClosed()
}

// A command line without its end is refused once more than the read buffer
// came (so a client cannot make the server hold an endless line), and the
// long-line limit does not count a BDAT chunk read ahead with its command.
func TestServerLongLineBounded(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.ehlo()
	rc.send("NOOP " + strings.Repeat("x", 10000))
	rc.expect("500 5.5.2 Too long line, closing connection")

	_, _, rc = dialRaw(t)
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	chunk := "Subject: x\r\n" + strings.Repeat("y", 2500) + "\r\n"
	rc.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk)) // one write: read ahead together
	rc.expect("250 2.0.0 OK: queued")
}

// Replies echo a quoted local part quoted, as it was given (RFC 5321
// §4.1.2), not as the unquoted mailbox the backend gets.
func TestServerEchoesQuotedLocalPart(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.ehlo()
	rc.cmd(`MAIL FROM:<"a b"@example.net>`, `250 2.0.0 Roger, accepting mail from <"a b"@example.net>`)
	rc.cmd(`RCPT TO:<"x\"y"@example.org>`, `250 2.0.0 I'll make sure <"x\"y"@example.org> gets this`)
	rc.cmd(`RCPT TO:<first.last@example.org>`, `250 2.0.0 I'll make sure <first.last@example.org> gets this`)
}

// RFC 5321 §4.1.1: trailing white space before the CRLF is tolerated, on
// commands without arguments too (v0.25.1: "RSET " was 501 Bad command,
// and counted as an error); a verb of another length is an unknown
// command, not a malformed one.
func TestServerTrailingWhiteSpace(t *testing.T) {
	be, _, rc := dialRaw(t)
	rc.cmd("EHLO ", "501 5.5.2 Domain/address argument required for EHLO")
	rc.cmd("HELO", "501 5.5.2 Domain/address argument required for HELO")
	rc.send("EHLO localhost \r\n")
	for l := rc.line(); !strings.HasPrefix(l, "250 "); l = rc.line() {
	}
	rc.cmd("NOOP ", "250 2.0.0 I have successfully done nothing")
	rc.cmd("NOOP\t", "250 2.0.0 I have successfully done nothing")
	rc.cmd("MAIL FROM:<a@example.net> ", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RSET ", "250 2.0.0 Session reset")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>  ", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("DATA ", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	rc.send("Subject: x\r\n\r\nhi\r\n.\r\n")
	rc.expect("250 2.0.0 OK: queued")
	rc.cmd("HELLO there", "500 5.5.2 Syntax errors, HELLO command unrecognized")
	rc.cmd("NO", "500 5.5.2 Syntax errors, NO command unrecognized")
	rc.cmd("NOOP;x", "500 5.5.2 Syntax error, command unrecognized")
	rc.cmd("QUIT ", "221 2.0.0 Bye")
	rc.expectClosed()
	if len(be.anonmsgs) != 1 {
		t.Fatalf("messages %v", be.anonmsgs)
	}
}

// A verb shorter than four letters is an unknown command, and a line
// that does not begin with a verb is no command: both are 500 5.5.2 (RFC
// 5321 §4.2.4: "Syntax error, command unrecognized"), where v0.25.1
// answered "501 5.5.2 Bad command", a syntax error in the arguments.
func TestServerUnrecognizedCommand(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.cmd("foo bar", "500 5.5.2 Syntax errors, FOO command unrecognized")
	rc.cmd(" NOOP", "500 5.5.2 Syntax error, command unrecognized")
	rc.cmd("NO\x00OP", "500 5.5.2 Syntax error, command unrecognized")
}

// An unknown verb is echoed, but kept within a reply line's 512 octets
// (RFC 5321 §4.5.3.1.5).
func TestServerLongUnknownVerb(t *testing.T) {
	_, _, rc := dialRaw(t)
	rc.cmd(strings.Repeat("X", 900), "500 5.5.2 Syntax errors, "+strings.Repeat("X", 32)+"... command unrecognized")
}

// A greeting's argument is a domain or an address literal, at most 255
// octets (RFC 5321 §4.5.3.1.2): a longer one is refused, not echoed in a
// reply line over 512 octets (§4.5.3.1.5).
func TestServerLongHelloArgument(t *testing.T) {
	_, _, rc := dialRaw(t)
	long := strings.Repeat("a", 250) + ".test"
	rc.cmd("HELO "+long+"x", "501 5.5.2 Domain/address argument too long for HELO")
	rc.cmd("EHLO "+long+"x", "501 5.5.2 Domain/address argument too long for EHLO")
	rc.cmd("HELO "+long, "250 localhost Hello "+long)
	rc.cmd("HELO "+long+"x", "501 5.5.2 Domain/address argument too long for HELO")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
}

// RFC 4954 §4: a syntactically invalid response — AUTH PLAIN without its
// two NUL separators, or empty — gets 501 5.5.2, as one that is not
// base64 does (v0.25.1: 454 4.7.0, which tells the client to try again);
// it is a protocol error, counted as one. Credentials refused are still
// the session's to answer.
func TestServerAuthMalformed(t *testing.T) {
	var sess *countingSession
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		be := s.Backend.(*backend)
		s.Backend = smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
			sess = &countingSession{session: &session{backend: be, anonymous: true}, limit: 10}
			return sess, nil
		})
	})
	rc.ehlo()
	rc.cmd("AUTH PLAIN =", "501 5.5.2 Malformed authentication response")
	rc.cmd("AUTH PLAIN dXNlcg==", "501 5.5.2 Malformed authentication response") // "user"
	rc.cmd("AUTH PLAIN", "334 ")
	rc.cmd("dXNlcgB4", "501 5.5.2 Malformed authentication response") // "user\x00x"
	// The test backend refuses with a plain error: 454, as before.
	rc.cmd("AUTH PLAIN AHVzZXJuYW1lAHdyb25n", "454 4.7.0 Invalid username or password")
	rc.cmd("AUTH PLAIN AHVzZXJuYW1lAHBhc3N3b3Jk", "235 2.7.0 Authentication succeeded")
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if len(sess.seen) != 3 {
		t.Fatalf("errors counted: %q, want the three malformed responses", sess.seen)
	}
}

// RFC 3030 §2: a chunk size is 1*DIGIT; one too large for any message is
// refused as too large (552 5.3.4), not as malformed (v0.25.1: 501). Its
// chunk is too large to read and drop, so the session ends, and the reply
// says so. A size that fits is still read and dropped, and the session
// goes on.
func TestServerBdatHugeSize(t *testing.T) {
	for _, size := range []string{"99999999999", "4294967296", "99999999999999999999999"} {
		be, _, rc := dialRaw(t, func(s *smtp.Server) { s.MaxMessageBytes = 1000 })
		rc.ehlo()
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
		rc.send("BDAT " + size + " LAST\r\n")
		rc.expect("552 5.3.4 Max message size exceeded, closing connection")
		rc.expectClosed()
		if len(be.anonmsgs) != 0 {
			t.Fatal("a message went through")
		}
	}

	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.MaxMessageBytes = 5 })
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.send("BDAT 6 LAST\r\nQUIT\r\n")
	rc.expect("552 5.3.4 Max message size exceeded")
	rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
}

// RFC 3461 §4.4: an ENVID has at most 100 characters.
func TestServerEnvIDLength(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.EnableDSN = true })
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net> ENVID="+strings.Repeat("e", 101), "501 5.5.4 Malformed ENVID parameter value")
	// Counted decoded: "+41" is one character.
	rc.cmd("MAIL FROM:<a@example.net> ENVID="+strings.Repeat("+41", 100), "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RSET", "250 2.0.0 Session reset")
	rc.cmd("MAIL FROM:<a@example.net> ENVID="+strings.Repeat("e", 100), "250 2.0.0 Roger, accepting mail from <a@example.net>")
}

// An ORCPT address longer than 500 octets once decoded (RFC 3461 §4: NOTIFY
// and ORCPT add at most 500 characters to a RCPT line) is refused: each is
// kept until the transaction ends, so any length the line limit allowed,
// times the recipients, was held per connection.
func TestServerORCPTLength(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.EnableDSN = true; s.MaxLineLength = 4096 })
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org> ORCPT=rfc822;"+strings.Repeat("o", 489)+"@example.org",
		"501 5.5.4 ORCPT parameter value too long")
	// Counted decoded: "+41" is one octet.
	rc.cmd("RCPT TO:<u@example.org> ORCPT=rfc822;"+strings.Repeat("+41", 488)+"@example.org",
		"250 2.0.0 I'll make sure <u@example.org> gets this")
}
