package smtp_test

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// syncBuffer is the server's Debug transcript, written by its session.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// After RSET the session's EHLO still stands (RFC 5321 §4.1.1.5): the next
// transaction starts with MAIL, not with a second EHLO, which OpenSMTPD
// refuses ("503 5.5.1 Invalid command: Already identified").
func TestResetKeepsHello(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &pipeBackend{}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	var transcript syncBuffer
	s.Debug = &transcript
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	c, err := smtp.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.CommandTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	// A transaction whose only recipient is refused, closed with RSET as
	// a client that keeps the session for its next message does.
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bad@example.org", nil); err == nil {
		t.Fatal("bad@ accepted")
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if msgs := be.messages(); len(msgs) != 1 || msgs[0].to[0] != "b@example.org" {
		t.Fatalf("server got %+v", msgs)
	}
	if n := strings.Count(transcript.String(), "EHLO client.test"); n != 1 {
		t.Errorf("EHLO sent %d times in one session, want once:\n%s", n, transcript.String())
	}
	if strings.Contains(transcript.String(), "HELO ") {
		t.Errorf("HELO sent after EHLO:\n%s", transcript.String())
	}
}
