package smtp_test

import (
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Server.JunkCommand sees each command that moves no transaction forward,
// before and after HELO, and its reply replaces the command's and closes
// the connection; other commands are not shown to it.
func TestServerJunkCommand(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	goAway := &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "enough"}
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		s.JunkCommand = func(c *smtp.Conn, cmd string) *smtp.SMTPError {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, cmd)
			if len(seen) > 6 {
				return goAway
			}
			return nil
		}
	})
	rc.cmd("noop", "250 2.0.0 I have successfully done nothing") // before HELO: no session yet
	rc.ehlo()                                                    // the first greeting is not junk
	rc.cmd("RSET", "250 2.0.0 Session reset")
	rc.cmd("VRFY x", "252 2.5.0 Cannot VRFY user, but will accept message")
	rc.cmd("HELP", "502 5.5.1 HELP command not implemented")
	rc.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	rc.cmd("EXPN list", "502 5.5.1 EXPN command not implemented")
	rc.ehlo() // again: it only resets
	rc.cmd("NOOP", "421 4.7.0 enough")
	rc.expectClosed()
	mu.Lock()
	defer mu.Unlock()
	want := []string{"NOOP", "RSET", "VRFY", "HELP", "EXPN", "EHLO", "NOOP"}
	if len(seen) != len(want) {
		t.Fatalf("JunkCommand saw %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("JunkCommand saw %q, want %q", seen, want)
		}
	}
}
