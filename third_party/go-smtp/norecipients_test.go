package smtp_test

import (
	"io"
	"testing"
)

// DATA and BDAT without a transaction get 503 before MAIL and 554 when no
// RCPT succeeded (RFC 5321 §4.1.4, RFC 2920 §3.1), never 502.
func TestServerDataWithoutRecipients(t *testing.T) {
	_, s, c, scanner := testServerAuthenticated(t)
	defer s.Close()
	defer c.Close()

	expect := func(cmd, want string) {
		t.Helper()
		io.WriteString(c, cmd+"\r\n")
		if !scanner.Scan() {
			t.Fatalf("%s: no reply", cmd)
		}
		if got := scanner.Text(); got != want {
			t.Fatalf("%s: got %q, want %q", cmd, got, want)
		}
	}
	expect("DATA", "503 5.5.1 Bad sequence of commands: MAIL first")
	expect("MAIL FROM:<root@nsa.gov>", "250 2.0.0 Roger, accepting mail from <root@nsa.gov>")
	expect("DATA", "554 5.5.1 No valid recipients")
	// The refused chunk is read and dropped: the next line is a command.
	expect("BDAT 4 LAST\r\nab", // the chunk is "ab\r\n"
		"554 5.5.1 No valid recipients")
	expect("RSET", "250 2.0.0 Session reset")
	expect("BDAT 4 LAST\r\nab", // the chunk is "ab\r\n"
		"503 5.5.1 Bad sequence of commands: MAIL first")
	expect("NOOP", "250 2.0.0 I have successfully done nothing")
}
