package smtp_test

import (
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Server.NonSMTPCommand sees the lines that are no SMTP command (an
// HTTP request line, a header field), before and after EHLO, whole and
// without their line end, and its reply replaces the 500 and closes the
// connection; unknown commands that are neither, and commands whose
// argument holds a colon, are not shown to it.
func TestServerNonSMTPCommand(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	bye := &smtp.SMTPError{Code: 221, EnhancedCode: smtp.EnhancedCode{2, 7, 0}, Message: "Error: I can break rules, too. Goodbye."}
	refuse := true
	config := func(s *smtp.Server) {
		s.NonSMTPCommand = func(c *smtp.Conn, line string) *smtp.SMTPError {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, line)
			if !refuse {
				return nil
			}
			return bye
		}
	}
	_, _, rc := dialRaw(t, config)
	rc.cmd("get / HTTP/1.1", "221 2.7.0 Error: I can break rules, too. Goodbye.")
	rc.expectClosed()

	_, _, rc = dialRaw(t, config)
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	rc.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	rc.cmd("FOOBAR x:y", "500 5.5.2 Syntax errors, FOOBAR command unrecognized")
	rc.cmd("NOOP a:b", "250 2.0.0 I have successfully done nothing")
	// A message's header sent as a command: the client never waited for
	// the 354.
	rc.cmd("Subject:\thello", "221 2.7.0 Error: I can break rules, too. Goodbye.")
	rc.expectClosed()

	// A nil reply answers the line as before.
	mu.Lock()
	refuse = false
	mu.Unlock()
	_, _, rc = dialRaw(t, config)
	rc.cmd("POST /form HTTP/1.0", "500 5.5.2 Syntax errors, POST command unrecognized")
	rc.cmd("Host: mx.example.org", "500 5.5.2 Syntax error, command unrecognized")
	rc.ehlo()

	mu.Lock()
	defer mu.Unlock()
	want := []string{"get / HTTP/1.1", "Subject:\thello", "POST /form HTTP/1.0", "Host: mx.example.org"}
	if len(seen) != len(want) {
		t.Fatalf("NonSMTPCommand saw %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("NonSMTPCommand saw %q, want %q", seen, want)
		}
	}
}
