package smtp_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// dribble writes s to c a byte a tick until it is spent, a write fails
// or stop is closed.
func dribble(c net.Conn, s string, tick time.Duration, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for i := 0; i < len(s); i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}()
	return done
}

// Server.MinDataRate: a client sending DATA and a BDAT chunk at 50 bytes
// a second, against 1000, is cut off once its reads have waited
// DataTimeout more than its bytes earned, though no read waits
// DataTimeout; each would go on for 150 bytes (3 s) without it.
func TestServerMinDataRate(t *testing.T) {
	for _, start := range []string{"DATA\r\n", "BDAT 150 LAST\r\n"} {
		_, _, rc := dialRaw(t, func(s *smtp.Server) {
			s.ReadTimeout, s.DataTimeout, s.MinDataRate = 10*time.Second, 500*time.Millisecond, 1000
		})
		rc.ehlo()
		rc.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
		rc.cmd("RCPT TO:<u@example.org>", "250 2.0.0 I'll make sure <u@example.org> gets this")
		rc.send(start)
		if start == "DATA\r\n" {
			rc.expect("354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		}
		stop := make(chan struct{})
		done := dribble(rc.c, strings.Repeat("x", 150), 20*time.Millisecond, stop)
		rc.expect("421 4.4.2 localhost Error: timeout exceeded")
		rc.expectClosed()
		close(stop)
		<-done
	}
}
