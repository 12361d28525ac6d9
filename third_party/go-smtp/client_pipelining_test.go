package smtp_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// pipeBackend refuses MAIL when told to and every recipient starting with
// "bad", and keeps what it accepts.
type pipeBackend struct {
	mu         sync.Mutex
	rejectMail bool
	msgs       []pipeMsg
}

type pipeMsg struct {
	from string
	to   []string
	data string
}

func (b *pipeBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &pipeSession{be: b}, nil
}

type pipeSession struct {
	be   *pipeBackend
	from string
	to   []string
}

var errRefused = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "refused"}

func (s *pipeSession) Mail(from string, _ *smtp.MailOptions) error {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	if s.be.rejectMail {
		return errRefused
	}
	s.from = from
	return nil
}

func (s *pipeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "bad") {
		return errRefused
	}
	s.to = append(s.to, to)
	return nil
}

func (s *pipeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.msgs = append(s.be.msgs, pipeMsg{s.from, s.to, string(b)})
	return nil
}

func (s *pipeSession) Reset()        { s.from, s.to = "", nil }
func (s *pipeSession) Logout() error { return nil }

func (b *pipeBackend) messages() []pipeMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]pipeMsg(nil), b.msgs...)
}

// pipeClient starts a go-smtp server on pipeBackend and a client to it
// whose writes are counted.
func pipeClient(t *testing.T) (*pipeBackend, *smtp.Client, *writeCounter) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &pipeBackend{}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	wc := &writeCounter{Conn: conn}
	c := smtp.NewClient(wc)
	c.CommandTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return be, c, wc
}

func TestSendEnvelope(t *testing.T) {
	be, c, wc := pipeClient(t)
	before := wc.writes
	w, rep := c.SendEnvelope("a@example.org", nil, []string{"b@example.org", "bad@example.org", "c@example.org"}, nil)
	if n := wc.writes - before; n != 1 {
		t.Errorf("MAIL, 3 RCPT and DATA took %d writes, want 1", n)
	}
	if rep.Mail != nil || rep.Rcpt[0] != nil || rep.Rcpt[2] != nil || rep.Data != nil {
		t.Fatalf("replies %+v, want all but the second recipient accepted", rep)
	}
	var se *smtp.SMTPError
	if !errors.As(rep.Rcpt[1], &se) || se.Code != 550 {
		t.Fatalf("second recipient: %v, want the 550", rep.Rcpt[1])
	}
	if _, err := io.WriteString(w, "Subject: pipelined\r\n\r\n.dot\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || strings.Join(msgs[0].to, ",") != "b@example.org,c@example.org" ||
		msgs[0].data != "Subject: pipelined\r\n\r\n.dot\r\n" {
		t.Fatalf("server got %+v", msgs)
	}
	// The next transaction runs on the same session.
	w, rep = c.SendEnvelope("a@example.org", nil, []string{"d@example.org"}, nil)
	if rep.Mail != nil || rep.Rcpt[0] != nil || rep.Data != nil {
		t.Fatalf("second transaction: %+v", rep)
	}
	io.WriteString(w, "second\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if msgs := be.messages(); len(msgs) != 2 || msgs[1].to[0] != "d@example.org" {
		t.Fatalf("server got %+v", msgs)
	}
}

func TestSendEnvelopeRefusals(t *testing.T) {
	be, c, _ := pipeClient(t)
	// Every recipient refused: the server refuses DATA too.
	w, rep := c.SendEnvelope("a@example.org", nil, []string{"bad1@example.org", "bad2@example.org"}, nil)
	if w != nil || rep.Mail != nil || rep.Rcpt[0] == nil || rep.Rcpt[1] == nil || rep.Data == nil {
		t.Fatalf("all recipients refused: %v, %+v", w, rep)
	}
	// As after any failed transaction, RSET (go-smtp's server keeps the
	// MAIL of a refused DATA).
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	// MAIL refused: so is everything after it.
	be.mu.Lock()
	be.rejectMail = true
	be.mu.Unlock()
	w, rep = c.SendEnvelope("a@example.org", nil, []string{"b@example.org"}, nil)
	var se *smtp.SMTPError
	if w != nil || !errors.As(rep.Mail, &se) || se.Code != 550 || rep.Data == nil {
		t.Fatalf("MAIL refused: %v, %+v", w, rep)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	// An address that cannot be sent is not; the others are.
	be.mu.Lock()
	be.rejectMail = false
	be.mu.Unlock()
	w, rep = c.SendEnvelope("a@example.org", nil, []string{"x\r\ny@example.org", "b@example.org"}, nil)
	if rep.Rcpt[0] == nil || rep.Rcpt[1] != nil || rep.Data != nil {
		t.Fatalf("bad address: %+v", rep)
	}
	io.WriteString(w, "x\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if msgs := be.messages(); len(msgs) != 1 || strings.Join(msgs[0].to, ",") != "b@example.org" {
		t.Fatalf("server got %+v", msgs)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
}

// TestSendEnvelopeDataAcceptedWithoutRecipients: a server that answers
// DATA with 354 after refusing every recipient gets a lone dot (RFC 2920
// §3.1), and the session goes on.
func TestSendEnvelopeDataAcceptedWithoutRecipients(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []string, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		var lines []string
		reply := func(s string) { io.WriteString(conn, s+"\r\n") }
		reply("220 fake ready")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break
			}
			l = strings.TrimSuffix(l, "\r\n")
			lines = append(lines, l)
			switch {
			case strings.HasPrefix(l, "EHLO"):
				reply("250-fake\r\n250 PIPELINING")
			case strings.HasPrefix(l, "MAIL"):
				reply("250 ok")
			case strings.HasPrefix(l, "RCPT"):
				reply("550 no such user")
			case l == "DATA":
				reply("354 go ahead")
			case l == ".":
				reply("554 no valid recipients")
			case l == "NOOP":
				reply("250 ok")
			case l == "QUIT":
				reply("221 bye")
				got <- lines
				return
			}
		}
		got <- lines
	}()
	c, err := smtp.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.CommandTimeout = 10 * time.Second
	w, rep := c.SendEnvelope("a@example.org", nil, []string{"b@example.org"}, nil)
	if w != nil || rep.Rcpt[0] == nil || rep.Data != smtp.ErrNoRecipient {
		t.Fatalf("%v, %+v; want ErrNoRecipient", w, rep)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("NOOP after the lone dot: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	lines := <-got
	want := "EHLO localhost|MAIL FROM:<a@example.org>|RCPT TO:<b@example.org>|DATA|.|NOOP|QUIT"
	if strings.Join(lines, "|") != want {
		t.Fatalf("server read %q, want %q", strings.Join(lines, "|"), want)
	}
}
