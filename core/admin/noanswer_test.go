package admin

import (
	"bytes"
	"errors"
	"log"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// An SMTP server given as the admin address greets before the request is
// written, or after: either way the answer is "another protocol", not an
// unreachable daemon, and net/http logs no "unsolicited response" line of
// its own on the command's stderr. Each try is a new connection, so the
// tries meet both orders.
func TestClientSMTPServerIsOtherProtocol(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	sink := testlib.NewSink(t, "127.0.0.1:0")
	want := "admin API at http://" + sink.Addr + " answered in another protocol ("
	for i := 0; i < 50; i++ {
		c := NewClient(sink.Addr, "")
		err := c.Do("GET", "/api/queue", nil, nil)
		if err == nil || errors.Is(err, ErrUnreachable) || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("try %d: %v\nwant %s…", i, err, want)
		}
	}
	if logged.Len() > 0 {
		t.Errorf("net/http logged %q", logged.String())
	}
}

// A server whose first bytes come before anything was written is found
// out by the connection, whichever of the transport's reads meets them.
func TestAskedFirstConn(t *testing.T) {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() { _, _ = server.Write([]byte("220 mx.example.org ESMTP\r\n")) }()
	c := &askedFirstConn{Conn: client}
	if n, err := c.Read(make([]byte, 64)); n != 0 || !errors.Is(err, errSpokeFirst) {
		t.Fatalf("greeting before the request: %d, %v; want 0, errSpokeFirst", n, err)
	}

	client, server = net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	c = &askedFirstConn{Conn: client}
	go func() {
		buf := make([]byte, 64)
		if _, err := server.Read(buf); err == nil {
			_, _ = server.Write([]byte("HTTP/1.1 200 OK\r\n"))
		}
	}()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("answer after the request: %q, %v", buf[:n], err)
	}
}
