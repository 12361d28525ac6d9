package policy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// policyServer is a test's policy server: a TCP server on loopback
// speaking Postfix's policy delegation protocol, recording each request
// and the connection it came on, answering as answer says.
type policyServer struct {
	t       *testing.T
	addr    string
	network string
	ln      net.Listener
	// stop is closed when the test ends: a hanging answer gives up.
	stop chan struct{}

	// closed is told the number of each connection the server closed.
	closed chan int
	// read is told of each request read, when it has room, for a test
	// to wait on (waitRequests).
	read chan struct{}

	mu     sync.Mutex
	answer func(r serverReq) reply
	reqs   []serverReq
	conns  int
	open   []net.Conn
}

// serverReq is one request as the server read it.
type serverReq struct {
	attrs map[string]string
	names []string // in the order sent
	conn  int      // 1 for the first connection
	n     int      // 1 for the first request on its connection
	lines int
}

// reply is how the server answers a request.
type reply struct {
	raw   string        // written as it is
	close bool          // then the connection is closed
	hang  bool          // nothing is written until the test ends
	delay time.Duration // a slow server: raw is written this late
}

func action(s string) reply { return reply{raw: "action=" + s + "\n\n"} }

// newServer starts a policy server on loopback answering every request
// with DUNNO.
func newServer(t *testing.T) *policyServer {
	t.Helper()
	return newServerOn(t, "tcp", "127.0.0.1:0")
}

// newServerOn is newServer listening on network's addr.
func newServerOn(t *testing.T, network, addr string) *policyServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &policyServer{t: t, addr: ln.Addr().String(), network: network, ln: ln, stop: make(chan struct{}), closed: make(chan int, 100), read: make(chan struct{}, 100),
		answer: func(serverReq) reply { return action("DUNNO") }}
	go s.serve()
	t.Cleanup(func() {
		close(s.stop)
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			_ = c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

// server is the stage's server key for s.
func (s *policyServer) server() string {
	if s.network == "unix" {
		return "unix:" + s.addr
	}
	return "inet:" + s.addr
}

// answers sets how s answers.
func (s *policyServer) answers(f func(r serverReq) reply) {
	s.mu.Lock()
	s.answer = f
	s.mu.Unlock()
}

// always has s answer every request with action.
func (s *policyServer) always(act string) { s.answers(func(serverReq) reply { return action(act) }) }

// requests returns the requests so far.
func (s *policyServer) requests() []serverReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]serverReq(nil), s.reqs...)
}

// waitRequests waits (bounded) until s has read n requests and returns
// those it has: a request the client sent is read by the server's
// goroutine, which a loaded machine may run after the client gave up.
func (s *policyServer) waitRequests(n int) []serverReq {
	s.t.Helper()
	for timeout := time.After(10 * time.Second); ; {
		if r := s.requests(); len(r) >= n {
			return r
		}
		select {
		case <-s.read:
		case <-timeout:
			return s.requests()
		}
	}
}

// last is the last request.
func (s *policyServer) last() serverReq {
	s.t.Helper()
	r := s.requests()
	if len(r) == 0 {
		s.t.Fatal("the server got no request")
	}
	return r[len(r)-1]
}

// connections is how many connections s has accepted.
func (s *policyServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *policyServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		n := s.conns
		s.open = append(s.open, c)
		s.mu.Unlock()
		go s.handle(c, n)
	}
}

// handle reads requests on c (name=value lines up to an empty one) and
// answers each.
func (s *policyServer) handle(c net.Conn, n int) {
	defer func() {
		_ = c.Close()
		select {
		case s.closed <- n:
		default:
		}
	}()
	r := bufio.NewReader(c)
	asked := 1
	req := serverReq{attrs: map[string]string{}, conn: n, n: asked}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		if line != "" {
			k, v, _ := strings.Cut(line, "=")
			req.attrs[k] = v
			req.names = append(req.names, k)
			req.lines++
			continue
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		answer := s.answer
		s.mu.Unlock()
		select {
		case s.read <- struct{}{}:
		default:
		}
		a := answer(req)
		asked++
		req = serverReq{attrs: map[string]string{}, conn: n, n: asked}
		if a.hang {
			<-s.stop
			return
		}
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-s.stop:
				return
			}
		}
		if _, err := io.WriteString(c, a.raw); err != nil || a.close {
			return
		}
	}
}

// clock is a settable clock: tests age connections instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// logBuffer collects the plugin's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
