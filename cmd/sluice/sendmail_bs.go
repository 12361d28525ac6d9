package main

import (
	"io"
	"net"
	"time"
)

// smtpStdio is sendmail -bs: an SMTP session on stdin and stdout, as PHP
// mailers (Symfony's by default) and other programs speak to a local
// sendmail. Sluice splices it to the daemon's own listener, so the client
// talks to the real SMTP server — its greeting, checks and replies — from
// a local process. It ends when either side ends the session.
func smtpStdio(addr string, stdin io.Reader, stdout io.Writer) error {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return sendmailFail(exUnavailable, "cannot reach the daemon at %s: %v", addr, err)
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, stdin) // the client's commands, until stdin ends
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // the server sees the end and closes
		}
	}()
	// The server's replies, until it closes: after QUIT, or once stdin
	// ended. A client that keeps stdin open after QUIT does not hold us.
	_, _ = io.Copy(stdout, conn)
	return nil
}
