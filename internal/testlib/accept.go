package testlib

import (
	"net"
	"testing"
)

// AcceptEach listens on addr until the test ends and hands every
// connection to handle on the accepting goroutine (handle starts its own
// for a conversation); it returns the address listened on. It is the
// loop of the hand-driven peers tests write where no real server can be
// made to misbehave the way they need.
func AcceptEach(t testing.TB, addr string, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	return ln.Addr().String()
}
