package smtp_test

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// Server.TLSRequired (RFC 3207 §4): in the clear, the commands of a
// transaction and AUTH, VRFY, EXPN, XCLIENT get 530 5.7.0, counted as protocol
// errors; a BDAT chunk is read and dropped first; NOOP, RSET, HELP and
// STARTTLS are answered as usual, and under TLS everything is.
func TestServerTLSRequired(t *testing.T) {
	tlsOpt, clientTLS := withTLS(t)
	var sess *countingSession
	be, _, rc := dialRaw(t, tlsOpt, func(s *smtp.Server) {
		s.TLSRequired = func(*smtp.Conn) bool { return true }
		be := s.Backend.(*backend)
		s.Backend = smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
			sess = &countingSession{session: &session{backend: be, anonymous: true}, limit: 100}
			return sess, nil
		})
	})
	const must = "530 5.7.0 Must issue a STARTTLS command first"
	rc.ehlo()
	for _, cmd := range []string{"MAIL FROM:<a@example.net>", "RCPT TO:<u@example.org>", "DATA", "AUTH PLAIN", "VRFY u", "EXPN list", "XCLIENT ADDR=192.0.2.1"} {
		rc.cmd(cmd, must)
	}
	// The chunk's octets are no command.
	rc.send("BDAT 4\r\nQUIT")
	rc.expect(must)
	rc.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	rc.cmd("RSET", "250 2.0.0 Session reset")
	rc.cmd("HELP", "502 5.5.1 HELP command not implemented")
	sess.mu.Lock()
	if n := len(sess.seen); n != 8 {
		t.Errorf("%d errors counted, want 8: %q", n, sess.seen)
	}
	sess.mu.Unlock()

	rc.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(rc.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	rc = newRawClient(t, tc)
	rc.ehlo()
	rc.cmd("VRFY u", "252 2.5.0 Cannot VRFY user, but will accept message")
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	rc.send("Subject: x\r\n\r\nhi\r\n.\r\n")
	rc.expect("250 2.0.0 OK: queued")
	if len(be.anonmsgs) != 1 {
		t.Fatalf("messages %v", be.anonmsgs)
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if strings.Join(sess.seen, "") != "" {
		t.Errorf("errors counted under TLS: %q", sess.seen)
	}
}
