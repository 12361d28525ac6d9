package smtp_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// A cancelled AUTH (RFC 4954 §4) and DATA or BDAT without a valid
// recipient (once per transaction) are errors the server answers itself:
// an ErrorCounter session is told of each, as Postfix counts them towards
// smtpd_hard_error_limit.
// Before, none was reported, so a client could repeat them without end.
func TestServerErrorCounterCancelAndNoRecipients(t *testing.T) {
	var sess *countingSession
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		be := s.Backend.(*backend)
		s.Backend = smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
			sess = &countingSession{session: &session{backend: be, anonymous: true}, limit: 3}
			return sess, nil
		})
	})
	rc.ehlo()
	rc.cmd("AUTH PLAIN", "334 ")
	rc.cmd("*", "501 5.7.0 Negotiation cancelled")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("DATA", "554 5.5.1 No valid recipients")
	// The same transaction's later refusals (a pipelined message's BDAT
	// chunks) are not errors again: they are junk (Server.JunkCommand).
	rc.send("BDAT 2\r\nab")
	rc.expect("554 5.5.1 No valid recipients")
	rc.cmd("DATA", "554 5.5.1 No valid recipients")
	for _, last := range []string{"554 5.5.1 No valid recipients", "421 4.7.0 Too many errors"} {
		rc.cmd("RSET", "250 2.0.0 Session reset")
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("DATA", last)
	}
	rc.expectClosed()
	want := []string{
		"501 5.7.0 Negotiation cancelled",
		"554 5.5.1 No valid recipients",
		"554 5.5.1 No valid recipients",
		"554 5.5.1 No valid recipients",
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if strings.Join(sess.seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors reported:\n%s\nwant:\n%s", strings.Join(sess.seen, "\n"), strings.Join(want, "\n"))
	}
}

// An empty BDAT chunk that is not the last moves the message no further:
// Server.JunkCommand sees it as "BDAT", and its reply ends the session.
// Chunks with octets, and an empty LAST one, are not junk.
func TestServerJunkEmptyChunk(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	be, _, rc := dialRaw(t, func(s *smtp.Server) {
		s.JunkCommand = func(c *smtp.Conn, cmd string) *smtp.SMTPError {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, cmd)
			if len(seen) > 2 {
				return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "enough"}
			}
			return nil
		}
	})
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("BDAT 0", "250 2.0.0 Continue")
	rc.send("BDAT 4\r\nab\r\n")
	rc.expect("250 2.0.0 Continue")
	rc.cmd("BDAT 0 LAST", "250 2.0.0 OK: queued")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("BDAT 0", "250 2.0.0 Continue")
	rc.cmd("BDAT 0", "421 4.7.0 enough")
	rc.expectClosed()
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, " ") != "BDAT BDAT BDAT" {
		t.Fatalf("JunkCommand saw %q, want three BDAT", seen)
	}
	if n := len(be.messages) + len(be.anonmsgs); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}
