package smtp_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// bareLFSeen records the lines Server.BareLFCommand is asked about and
// refuses each with reply, nil taking them.
type bareLFSeen struct {
	mu    sync.Mutex
	lines []string
	reply *smtp.SMTPError
}

func (b *bareLFSeen) hook(s *smtp.Server) {
	s.BareLFCommand = func(_ *smtp.Conn, line string) *smtp.SMTPError {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.lines = append(b.lines, line)
		return b.reply
	}
}

func (b *bareLFSeen) want(t *testing.T, want ...string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) != len(want) {
		t.Fatalf("BareLFCommand asked %q, want %q", b.lines, want)
	}
	for i := range want {
		if b.lines[i] != want[i] {
			t.Fatalf("BareLFCommand asked %q, want %q", b.lines, want)
		}
	}
}

// Server.BareLFCommand is asked about command lines ended by a bare LF
// alone (RFC 5321 §2.3.8); its reply replaces the command, which is not
// run, and a 521 closes the connection.
func TestServerBareLFCommand(t *testing.T) {
	refuse := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "localhost Error: bare <LF> received"}
	t.Run("refused, session goes on", func(t *testing.T) {
		b := bareLFSeen{reply: refuse}
		_, _, rc := dialRaw(t, b.hook)
		rc.send("HELO c.test\n")
		rc.expect("550 5.5.2 localhost Error: bare <LF> received")
		rc.cmd("HELO c.test", "250 localhost Hello c.test")
		rc.send("MAIL FROM:<a@example.net>\n")
		rc.expect("550 5.5.2 localhost Error: bare <LF> received")
		// The MAIL was not run: RCPT needs one.
		rc.cmd("RCPT TO:<b@example.org>", "503 5.5.1 Missing MAIL FROM command.")
		rc.send("\n")
		rc.expect("550 5.5.2 localhost Error: bare <LF> received")
		b.want(t, "HELO c.test", "MAIL FROM:<a@example.net>", "")
	})
	t.Run("521 closes", func(t *testing.T) {
		b := bareLFSeen{reply: &smtp.SMTPError{Code: 521, EnhancedCode: refuse.EnhancedCode, Message: refuse.Message}}
		_, _, rc := dialRaw(t, b.hook)
		rc.send("EHLO c.test\nNOOP\r\n")
		rc.expect("521 5.5.2 localhost Error: bare <LF> received")
		rc.expectClosed()
	})
	t.Run("nil takes the line", func(t *testing.T) {
		var b bareLFSeen
		_, _, rc := dialRaw(t, b.hook)
		rc.send("HELO c.test\n")
		rc.expect("250 localhost Hello c.test")
		rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		b.want(t, "HELO c.test")
	})
}

// A BDAT line refused for its bare LF is followed by its chunk all the
// same (RFC 3030 §2): the chunk is read and dropped, never run as
// commands, and the transaction fails, so a chunk pipelined after the
// refused one cannot complete a message without it. Without a size the
// chunk's end is not known and the connection closes after the reply.
func TestServerBareLFCommandBDAT(t *testing.T) {
	refuse := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "localhost Error: bare <LF> received"}
	t.Run("first chunk", func(t *testing.T) {
		b := bareLFSeen{reply: refuse}
		be, _, rc := dialRaw(t, b.hook)
		rc.ehlo()
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
		rc.send("BDAT 6\nQUIT\r\nBDAT 4 LAST\r\nabcd")
		rc.expect("550 5.5.2 localhost Error: bare <LF> received", "503 5.5.1 Bad sequence of commands: MAIL first")
		rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		if len(be.anonmsgs) != 0 {
			t.Fatalf("a message without its first chunk went through: %q", be.anonmsgs[0].Data)
		}
	})
	t.Run("later chunk", func(t *testing.T) {
		b := bareLFSeen{reply: refuse}
		be, _, rc := dialRaw(t, b.hook)
		rc.ehlo()
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
		rc.send("BDAT 6\r\nab\r\n\r\n")
		rc.expect("250 2.0.0 Continue")
		rc.send("BDAT 6\nQUIT\r\nBDAT 4 LAST\r\nabcd")
		rc.expect("550 5.5.2 localhost Error: bare <LF> received", "503 5.5.1 Bad sequence of commands: MAIL first")
		rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		if len(be.anonmsgs) != 0 {
			t.Fatalf("a message without its second chunk went through: %q", be.anonmsgs[0].Data)
		}
	})
	t.Run("no size", func(t *testing.T) {
		b := bareLFSeen{reply: refuse}
		_, _, rc := dialRaw(t, b.hook)
		rc.ehlo()
		rc.send("BDAT x\nQUIT\r\n")
		rc.expect("550 5.5.2 localhost Error: bare <LF> received")
		rc.expectClosed()
	})
}

// Pipelined commands, one of them ended by a bare LF, in one write: that
// one alone is refused and not run, the others are.
func TestServerBareLFCommandPipelined(t *testing.T) {
	b := bareLFSeen{reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "localhost Error: bare <LF> received"}}
	_, _, rc := dialRaw(t, b.hook)
	rc.ehlo()
	rc.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\nRCPT TO:<v@example.org>\r\nNOOP\r\n")
	rc.expect("250 2.0.0 Roger, accepting mail from <a@example.net>",
		"550 5.5.2 localhost Error: bare <LF> received",
		"250 2.0.0 I'll make sure <v@example.org> gets this",
		"250 2.0.0 I have successfully done nothing")
	b.want(t, "RCPT TO:<u@example.org>")
}

// A command line longer than the reader's buffer is judged as a whole: a
// bare LF after it is asked about, a CRLF split across two reads is not;
// a CR inside a line ended by CRLF is not a bare LF.
func TestServerBareLFCommandLongLine(t *testing.T) {
	b := bareLFSeen{}
	_, _, rc := dialRaw(t, b.hook, func(s *smtp.Server) { s.MaxLineLength = 20000 })
	long := "NOOP " + strings.Repeat("x", 9000)
	rc.send(long + "\n")
	rc.expect("250 2.0.0 I have successfully done nothing")
	// 4096 octets, the reader's buffer, end with the CR; the LF follows.
	split := "NOOP " + strings.Repeat("y", 4096-len("NOOP ")-1)
	rc.send(split + "\r\n")
	rc.expect("250 2.0.0 I have successfully done nothing")
	rc.send("NOOP a\rb\r\n")
	rc.expect("250 2.0.0 I have successfully done nothing")
	rc.send("NOOP a\r \n")
	rc.expect("250 2.0.0 I have successfully done nothing")
	b.want(t, long, "NOOP a\r ")
}
