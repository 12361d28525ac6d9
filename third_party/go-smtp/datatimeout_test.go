package smtp_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// expectSilence asserts the server says nothing and keeps the connection
// open for d: a wait the server's timeouts must outlast.
func (rc *rawClient) expectSilence(d time.Duration) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(d))
	l, err := rc.r.ReadString('\n')
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || l != "" {
		rc.t.Fatalf("got %q (err %v), want no reply for %v", l, err, d)
	}
}

func dataTimeout(d time.Duration) serverConfigureFunc {
	return func(s *smtp.Server) { s.ReadTimeout, s.DataTimeout = 10*time.Second, d }
}

// Server.DataTimeout bounds each wait for message data, DATA's and a BDAT
// chunk's (RFC 5321 §4.5.3.2.6), while the wait for the command line after
// a chunk keeps ReadTimeout, as Postfix's smtpd_timeout.
func TestServerDataTimeout(t *testing.T) {
	be, _, rc := dialRaw(t, dataTimeout(100*time.Millisecond))
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
	rc.send("BDAT 6\r\nHello ")
	rc.expect("250 2.0.0 Continue")
	rc.expectSilence(500 * time.Millisecond) // five data timeouts
	rc.send("BDAT 7 LAST\r\nworld\r\n")
	rc.expect("250 2.0.0 OK: queued")
	if len(be.messages)+len(be.anonmsgs) != 1 {
		t.Fatal("the message was not queued")
	}

	for _, start := range []string{"DATA\r\n", "BDAT 100 LAST\r\n"} {
		_, _, rc := dialRaw(t, dataTimeout(100*time.Millisecond))
		rc.ehlo()
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
		rc.send(start)
		if start == "DATA\r\n" {
			rc.expect("354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		}
		rc.send("Subject: and then nothing\r\n")
		rc.expect("421 4.4.2 Timeout waiting for data, closing connection")
		rc.expectClosed()
	}
}
