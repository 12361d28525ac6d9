// Package testlib holds test peers shared by Sluice's tests: a real go-smtp
// sink server and a real miekg/dns server, both on loopback. It is imported
// only from _test files.
package testlib

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Delivery is one message a Sink accepted.
type Delivery struct {
	From string
	// MailOpts are the MAIL parameters (BODY, SMTPUTF8, RET, ENVID).
	MailOpts smtp.MailOptions
	Rcpts    []string
	// RcptOpts are the RCPT parameters of each of Rcpts (NOTIFY, ORCPT).
	RcptOpts []smtp.RcptOptions
	Data     []byte
	Addr     string // the sink address it arrived at
	// Conn numbers the connection it came on, from 1 in the order the
	// sink accepted them: a crash test tells by it which process sent it.
	Conn int
}

// Sink is a go-smtp server that records what it is sent. Reply, when set,
// decides the answer to each RCPT (nil = accept) and Data the answer at the
// end of DATA.
type Sink struct {
	Addr string

	mu          sync.Mutex
	got         []Delivery
	conns       int
	rcptReply   func(rcpt string) error
	dataReply   func(n int) error // n = 1-based count of DATA commands seen
	dataN       int
	arrived     chan struct{}
	srv         *smtp.Server
	ln          net.Listener
	closeOnce   sync.Once
	closeResult error
}

// NewSink starts a sink on addr ("127.0.0.1:0" for any port).
func NewSink(t testing.TB, addr string) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("sink listen %s: %v", addr, err)
	}
	s := &Sink{Addr: ln.Addr().String(), ln: ln, arrived: make(chan struct{}, 1<<16)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		n := s.conns
		s.mu.Unlock()
		return &sinkSession{s: s, conn: n}, nil
	}))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.EnableSMTPUTF8 = true
	s.srv.EnableDSN = true
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return s
}

// Close stops the sink.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() { s.closeResult = s.srv.Close() })
	return s.closeResult
}

// OnRcpt sets the RCPT answer function.
func (s *Sink) OnRcpt(f func(rcpt string) error) { s.mu.Lock(); s.rcptReply = f; s.mu.Unlock() }

// OnData sets the end-of-DATA answer function.
func (s *Sink) OnData(f func(n int) error) { s.mu.Lock(); s.dataReply = f; s.mu.Unlock() }

// Deliveries returns a copy of what arrived so far.
func (s *Sink) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.got...)
}

// Conns returns how many connections the sink accepted.
func (s *Sink) Conns() int { s.mu.Lock(); defer s.mu.Unlock(); return s.conns }

// WaitN waits until at least n deliveries arrived or the timeout passes.
func (s *Sink) WaitN(t testing.TB, n int, timeout time.Duration) []Delivery {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if d := s.Deliveries(); len(d) >= n {
			return d
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			t.Fatalf("sink %s: %d deliveries after %v, want %d", s.Addr, len(s.Deliveries()), timeout, n)
		}
	}
}

type sinkSession struct {
	s        *Sink
	conn     int
	from     string
	mailOpts smtp.MailOptions
	rcpts    []string
	rcptOpts []smtp.RcptOptions
}

func (x *sinkSession) Reset() {
	x.from, x.mailOpts, x.rcpts, x.rcptOpts = "", smtp.MailOptions{}, nil, nil
}
func (x *sinkSession) Logout() error { return nil }
func (x *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	x.from = from
	if opts != nil {
		x.mailOpts = *opts
	}
	return nil
}
func (x *sinkSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	x.s.mu.Lock()
	f := x.s.rcptReply
	x.s.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	x.rcpts = append(x.rcpts, to)
	var o smtp.RcptOptions
	if opts != nil {
		o = *opts
	}
	x.rcptOpts = append(x.rcptOpts, o)
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.dataN++
	f, n := x.s.dataReply, x.s.dataN
	x.s.mu.Unlock()
	if f != nil {
		if err := f(n); err != nil {
			return err
		}
	}
	x.s.mu.Lock()
	x.s.got = append(x.s.got, Delivery{From: x.from, MailOpts: x.mailOpts, Rcpts: append([]string(nil), x.rcpts...),
		RcptOpts: append([]smtp.RcptOptions(nil), x.rcptOpts...), Data: buf.Bytes(), Addr: x.s.Addr, Conn: x.conn})
	x.s.mu.Unlock()
	select {
	case x.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

// Temp is a 451 answer for sinks.
var Temp = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}

// Perm is a 550 answer for sinks.
var Perm = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("sink closed")
