package smtp_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// A client that sends commands and never reads the replies: once a reply
// cannot be written within WriteTimeout, the connection is closed. Before,
// the write error was ignored and kept by the buffered writer: the server
// went on reading and running commands, every reply lost, for as long as
// the client kept sending.
func TestServerClosesOnWriteFailure(t *testing.T) {
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.WriteTimeout = 100 * time.Millisecond })
	if tc, ok := rc.c.(*net.TCPConn); ok {
		// Fixed, so replies back up sooner than with autotuning; larger
		// than a loopback segment (64 KiB), or the kernel drops segments.
		_ = tc.SetReadBuffer(256 << 10)
	}
	// A million NOOPs, 46 MB of replies: far more than the socket buffers
	// hold. The server's writes block, time out, and it closes; its close
	// with our commands unread resets the connection, and a write fails.
	rc.c.SetWriteDeadline(time.Now().Add(8 * time.Second))
	noops := []byte(strings.Repeat("NOOP\r\n", 10000))
	for i := 0; i < 100; i++ {
		if _, err := rc.c.Write(noops); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server neither read nor closed: %v", err)
			}
			return
		}
	}
	t.Fatal("a million NOOPs sent and none of their replies read, and the server has not closed the connection")
}
