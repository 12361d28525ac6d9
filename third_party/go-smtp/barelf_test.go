package smtp_test

import (
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
