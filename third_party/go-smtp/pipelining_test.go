package smtp_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// outOfTurnSeen records what Server.OutOfTurn is asked, and refuses a
// command with input after it.
type outOfTurnSeen struct {
	mu    sync.Mutex
	calls []string // "CMD:ahead"
}

var syncError = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 0}, Message: "Error: SMTP protocol synchronization"}

func (o *outOfTurnSeen) hook(s *smtp.Server) {
	s.OutOfTurn = func(_ *smtp.Conn, cmd string, ahead []byte) *smtp.SMTPError {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.calls = append(o.calls, cmd+":"+string(ahead))
		if len(ahead) > 0 {
			return syncError
		}
		return nil
	}
}

func (o *outOfTurnSeen) want(t *testing.T, want ...string) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.calls) != len(want) {
		t.Fatalf("OutOfTurn asked %q, want %q", o.calls, want)
	}
	for i := range want {
		if o.calls[i] != want[i] {
			t.Fatalf("OutOfTurn asked %q, want %q", o.calls, want)
		}
	}
}

// Server.OutOfTurn is asked before a command that ends a pipelined group
// (RFC 2920 §3.1), and before every command where PIPELINING was not
// offered, with the input read past it; its reply replaces the command's,
// which is not run, and the connection closes.
func TestServerOutOfTurn(t *testing.T) {
	t.Run("EHLO and MAIL in one write", func(t *testing.T) {
		var o outOfTurnSeen
		_, _, rc := dialRaw(t, o.hook)
		rc.send("EHLO c.test\r\nMAIL FROM:<a@example.net>\r\n")
		rc.expect("554 5.5.0 Error: SMTP protocol synchronization")
		rc.expectClosed()
		o.want(t, "EHLO:MAIL FROM:<a@example.net>\r\n")
	})
	t.Run("HELO session", func(t *testing.T) {
		var o outOfTurnSeen
		_, _, rc := dialRaw(t, o.hook)
		rc.cmd("HELO c.test", "250 localhost Hello c.test")
		// No PIPELINING after HELO: MAIL must wait for its reply too.
		rc.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\r\n")
		rc.expect("554 5.5.0 Error: SMTP protocol synchronization")
		rc.expectClosed()
		o.want(t, "HELO:", "MAIL:RCPT TO:<u@example.org>\r\n")
	})
	t.Run("DATA and its content in one write", func(t *testing.T) {
		var o outOfTurnSeen
		be, _, rc := dialRaw(t, o.hook)
		rc.ehlo()
		rc.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
		rc.expect("250 2.0.0 Roger, accepting mail from <a@example.net>",
			"250 2.0.0 I'll make sure <u@example.org> gets this",
			"554 5.5.0 Error: SMTP protocol synchronization")
		rc.expectClosed()
		o.want(t, "EHLO:", "DATA:Subject: x\r\n\r\nbody\r\n.\r\n")
		if len(be.anonmsgs) != 0 {
			t.Fatal("a message went through")
		}
	})
	t.Run("pipelined group after EHLO", func(t *testing.T) {
		var o outOfTurnSeen
		be, _, rc := dialRaw(t, o.hook)
		rc.ehlo()
		rc.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\r\nRSET\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n")
		rc.expect("250 2.0.0 Roger, accepting mail from <a@example.net>",
			"250 2.0.0 I'll make sure <u@example.org> gets this",
			"250 2.0.0 Session reset",
			"250 2.0.0 Roger, accepting mail from <a@example.net>",
			"250 2.0.0 I'll make sure <u@example.org> gets this",
			"354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		// The message's content and the commands after its end may come
		// in one group (RFC 2920 §3.1).
		rc.send("Subject: x\r\n\r\nbody\r\n.\r\nNOOP\r\n")
		rc.expect("250 2.0.0 OK: queued", "250 2.0.0 I have successfully done nothing")
		o.want(t, "EHLO:", "DATA:", "NOOP:")
		if len(be.anonmsgs) != 1 {
			t.Fatalf("%d messages, want 1", len(be.anonmsgs))
		}
	})
	t.Run("BDAT pipelined", func(t *testing.T) {
		var o outOfTurnSeen
		be, _, rc := dialRaw(t, o.hook)
		rc.ehlo()
		rc.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\r\nBDAT 9\r\nSubject: BDAT 5 LAST\r\nx\r\n\r\nQUIT\r\n")
		rc.expect("250 2.0.0 Roger, accepting mail from <a@example.net>",
			"250 2.0.0 I'll make sure <u@example.org> gets this",
			"250 2.0.0 Continue",
			"250 2.0.0 OK: queued",
			"221 2.0.0 Bye")
		o.want(t, "EHLO:")
		if len(be.anonmsgs) != 1 || string(be.anonmsgs[0].Data) != "Subject: x\r\n\r\n" {
			t.Fatalf("messages %v", be.anonmsgs)
		}
	})
	t.Run("unknown command and empty line", func(t *testing.T) {
		// They run nothing and are answered 500 first, as Postfix answers
		// them before its check: the command after them is asked about.
		var o outOfTurnSeen
		_, _, rc := dialRaw(t, o.hook)
		rc.send("\r\nEHLO c.test\r\n")
		rc.expect("500 5.5.2 Error: bad syntax", "250-localhost Hello c.test")
		for l := rc.line(); !strings.HasPrefix(l, "250 "); l = rc.line() {
		}
		rc.cmd("HELO c.test", "250 localhost Hello c.test")
		rc.send("XFOO bar\r\nMAIL FROM:<a@example.net>\r\n")
		rc.expect("500 5.5.2 Syntax errors, XFOO command unrecognized",
			"250 2.0.0 Roger, accepting mail from <a@example.net>")
		o.want(t, "EHLO:", "HELO:", "MAIL:")
	})
	t.Run("no hook", func(t *testing.T) {
		_, _, rc := dialRaw(t)
		rc.send("HELO c.test\r\nNOOP\r\n")
		rc.expect("250 localhost Hello c.test", "250 2.0.0 I have successfully done nothing")
	})
}
