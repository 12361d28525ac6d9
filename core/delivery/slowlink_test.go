package delivery

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// slowConn is a server's end of a slow link: it reads at most about
// rate bytes a second, and the small receive buffer set on it keeps the
// kernel from taking the message in ahead of the reader.
type slowConn struct {
	net.Conn
	rate   int // bytes per second
	credit int // bytes read since the last pause
}

func (c *slowConn) Read(p []byte) (int, error) {
	const step = 32 << 10
	if c.credit >= step {
		// The pace of a slow link, injected: this synchronises nothing.
		time.Sleep(time.Duration(c.credit) * time.Second / time.Duration(c.rate))
		c.credit = 0
	}
	n, err := c.Conn.Read(p[:min(len(p), step)])
	c.credit += n
	return n, err
}

type slowListener struct {
	net.Listener
	rate int
}

func (l slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	if err != nil {
		return nil, err
	}
	return &slowConn{Conn: c, rate: l.rate}, nil
}

// A large message over a slow link that never stalls is delivered: the
// timeout for sending the body bounds each write (RFC 5321 §4.5.3.2.5,
// Postfix's smtp_data_xfer_timeout), not the whole transfer. It was
// 2 × command_timeout in all, which cut every message that needed longer,
// at every retry, until it bounced.
func TestSlowBodyTransferIsNotCutAtAFixedTotal(t *testing.T) {
	body := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("a", 78)+"\r\n", 200_000) // 16 MB
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sizeSession{got: got}, nil }))
	srv.Domain = "slow.test"
	srv.MaxMessageBytes = 32 << 20
	srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
	go func() { _ = srv.Serve(slowListener{Listener: ln, rate: 6 << 20}) }() // 16 MB in about 2.7 s
	t.Cleanup(func() { _ = srv.Close() })

	h := newHarness(t)
	h.opt.Config.Relay = ln.Addr().String()
	h.opt.Config.CommandTimeout.Duration = time.Second // the body had 2 s in all
	h.start()
	id := h.enqueueBody(msg("", "a@dest.test"), body)
	if r := rcpt(h.recorded(id), "a@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", r)
	}
	if n := <-got; n != len(body) {
		t.Errorf("the server got %d bytes, want %d", n, len(body))
	}
}

// sizeSession takes any message and reports its size.
type sizeSession struct{ got chan int }

func (s *sizeSession) Reset()                               {}
func (s *sizeSession) Logout() error                        { return nil }
func (s *sizeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sizeSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sizeSession) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	s.got <- int(n)
	return err
}
