package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// waitLimit bounds every wait for an event; reaching it fails the test.
const waitLimit = 10 * time.Second

// fakeClock is the injected time; tests move it with Advance.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// watchedQueue is a real queue.Store that reports every Modify, so tests
// wait for attempts to be recorded instead of sleeping.
type watchedQueue struct {
	*queue.Store
	modified chan *envelope.Message
}

func (q *watchedQueue) Modify(id string, fn func(*envelope.Message) error) (*envelope.Message, error) {
	m, err := q.Store.Modify(id, fn)
	if err == nil {
		q.modified <- m.Clone()
	}
	return m, err
}

// zone is a real DNS server on 127.0.0.1 answering from zone-file lines;
// names not listed are NXDOMAIN, names in servfail get SERVFAIL.
type zone struct {
	addr     string
	records  map[string][]dns.RR // "name.|TYPE"
	names    map[string]bool
	servfail map[string]bool
}

func startZone(t *testing.T, servfail []string, rrs ...string) *zone {
	t.Helper()
	z := &zone{records: map[string][]dns.RR{}, names: map[string]bool{}, servfail: map[string]bool{}}
	for _, n := range servfail {
		z.servfail[dns.Fqdn(n)] = true
	}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("bad RR %q: %v", s, err)
		}
		h := rr.Header()
		key := strings.ToLower(h.Name) + "|" + dns.TypeToString[h.Rrtype]
		z.records[key] = append(z.records[key], rr)
		z.names[strings.ToLower(h.Name)] = true
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: z}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return z
}

// ServeDNS only reads maps written before the server started.
func (z *zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	m.SetReply(req)
	switch {
	case z.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case z.names[name]:
		m.Answer = z.records[name+"|"+dns.TypeToString[q.Qtype]]
	default:
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// sinkOptions script a sink's replies. Functions are called with the
// 1-based count of the same command so far (per address for RCPT).
type sinkOptions struct {
	rcpt     func(addr string, n int) error
	data     func(n int) error
	tls      *tls.Config
	dataGate chan struct{} // when set, DATA waits until it is closed
	// noPipelining hides PIPELINING from the EHLO reply (go-smtp's
	// server always offers it), for a client that must not pipeline.
	noPipelining bool
	// no8BitMIME hides 8BITMIME from the EHLO reply, as a server
	// without it (smtp-sink -8) answers.
	no8BitMIME bool
	// noSMTPUTF8 hides SMTPUTF8 from the EHLO reply.
	noSMTPUTF8 bool
	// requireTLS offers REQUIRETLS (RFC 8689) under TLS.
	requireTLS bool
}

// sink is a real go-smtp server recording what it receives.
type sink struct {
	addr string
	opt  sinkOptions

	mu      sync.Mutex
	conns   int // TCP connections accepted
	live    []net.Conn
	rcptN   map[string]int
	dataN   int
	msgs    []sinkMsg
	arrived chan sinkMsg
	inData  chan struct{}

	transcript lockedBuffer // both directions, from go-smtp's Debug
}

// lockedBuffer is a bytes.Buffer written by many sessions.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type sinkMsg struct {
	from  string
	rcpts []string
	body  string
	helo  string
	tls   bool
	opts  smtp.MailOptions
}

func startSink(t *testing.T, addr string, opt sinkOptions) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{addr: ln.Addr().String(), opt: opt, rcptN: map[string]int{},
		arrived: make(chan sinkMsg, 100), inData: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s, conn: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.ReadTimeout = waitLimit
	srv.WriteTimeout = waitLimit
	srv.MaxMessageBytes = 1 << 20
	srv.EnableSMTPUTF8 = !opt.noSMTPUTF8
	srv.EnableREQUIRETLS = opt.requireTLS
	srv.TLSConfig = opt.tls
	srv.Debug = &s.transcript
	go func() { _ = srv.Serve(&countingListener{Listener: ln, sink: s}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *sink) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *sink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

// hangUp closes every connection from the server side, without a 421, as
// a server dropping idle clients does.
func (s *sink) hangUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.live {
		_ = c.Close()
	}
	s.live = nil
}

type countingListener struct {
	net.Listener
	sink *sink
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.sink.opt.noPipelining {
		c = pipeliningHidden{c}
	}
	if err == nil && l.sink.opt.no8BitMIME {
		c = eightBitMIMEHidden{c}
	}
	if err == nil {
		l.sink.mu.Lock()
		l.sink.conns++
		l.sink.live = append(l.sink.live, c)
		l.sink.mu.Unlock()
	}
	return c, err
}

// pipeliningHidden drops the PIPELINING line from what the server writes.
type pipeliningHidden struct{ net.Conn }

func (c pipeliningHidden) Write(p []byte) (int, error) {
	if _, err := c.Conn.Write(bytes.ReplaceAll(p, []byte("250-PIPELINING\r\n"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// eightBitMIMEHidden drops the 8BITMIME line from what the server writes.
type eightBitMIMEHidden struct{ net.Conn }

func (c eightBitMIMEHidden) Write(p []byte) (int, error) {
	if _, err := c.Conn.Write(bytes.ReplaceAll(p, []byte("250-8BITMIME\r\n"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lineAfter is the line that follows the first line starting with prefix
// in the transcript, command or reply.
func (s *sink) lineAfter(prefix string) string {
	lines := strings.Split(s.transcript.String(), "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	return ""
}

type sinkSession struct {
	sink  *sink
	conn  *smtp.Conn
	from  string
	opts  smtp.MailOptions
	rcpts []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.from = from
	if opts != nil {
		ss.opts = *opts
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := ss.sink
	s.mu.Lock()
	s.rcptN[to]++
	n := s.rcptN[to]
	s.mu.Unlock()
	if s.opt.rcpt != nil {
		if err := s.opt.rcpt(to, n); err != nil {
			return err
		}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.sink
	s.inData <- struct{}{}
	if s.opt.dataGate != nil {
		<-s.opt.dataGate
	}
	s.mu.Lock()
	s.dataN++
	n := s.dataN
	s.mu.Unlock()
	if s.opt.data != nil {
		if err := s.opt.data(n); err != nil {
			return err
		}
	}
	_, isTLS := ss.conn.TLSConnectionState()
	m := sinkMsg{from: ss.from, rcpts: ss.rcpts, body: string(body), helo: ss.conn.Hostname(), tls: isTLS, opts: ss.opts}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	s.arrived <- m
	return nil
}

// freePort returns a TCP port free on 127.0.0.1, which sinks on other
// loopback addresses (127.0.0.2, …) share as the MX port.
func freePort(t *testing.T) int {
	return testlib.SharedPort(t, "127.0.0.1")
}

// harness is an agent over a real queue in a temp dir with a fake clock.
type harness struct {
	t     *testing.T
	clock *fakeClock
	q     *watchedQueue
	agent *Agent
	opt   Options
	port  int

	attempts map[string]int
	lastErr  map[string]string
	// backlog keeps records read while waiting for another message's:
	// a report can be attempted before the attempt that queued it is
	// recorded.
	backlog map[string][]*envelope.Message
}

var testBody = "From: <sender@origin.test>\r\nTo: <rcpt@dest.test>\r\nSubject: test\r\n\r\nHello.\r\n.leading dot\r\n"

func newHarness(t *testing.T) *harness {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st, err := queue.Open(t.TempDir(), queue.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h := &harness{t: t, clock: clock, q: &watchedQueue{Store: st, modified: make(chan *envelope.Message, 100)}, port: freePort(t), attempts: map[string]int{}, lastErr: map[string]string{}, backlog: map[string][]*envelope.Message{}}
	h.opt = Options{
		Config: config.Delivery{
			Port:           h.port,
			Retry:          []config.Duration{{Duration: 5 * time.Minute}, {Duration: 10 * time.Minute}, {Duration: 30 * time.Minute}},
			MaxAge:         config.Duration{Duration: 5 * 24 * time.Hour},
			Workers:        4,
			PerDestination: 4,
			ConnectTimeout: config.Duration{Duration: 5 * time.Second},
			CommandTimeout: config.Duration{Duration: waitLimit},
			IdleTimeout:    config.Duration{Duration: time.Minute},
			Jitter:         0.1,
		},
		Hostname: "mta.sluice.test",
		Clock:    clock.Now,
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Rand:     func() float64 { return 0.5 }, // no jitter: exact schedules
	}
	return h
}

// sinkAt starts a sink on ip at the harness's MX port.
func (h *harness) sinkAt(ip string, opt sinkOptions) *sink {
	return startSink(h.t, net.JoinHostPort(ip, strconv.Itoa(h.port)), opt)
}

// useDNS points the agent at a zone server with the given records.
func (h *harness) useDNS(servfail []string, rrs ...string) {
	z := startZone(h.t, servfail, rrs...)
	r, err := dnsresolve.New([]string{z.addr}, 2*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.opt.Resolver = r
}

// start runs the agent until the test ends, then checks Run returned.
func (h *harness) start() { h.startWith(nil) }

// startWith is start with a chance to adjust the agent before it runs.
func (h *harness) startWith(adjust func(*Agent)) {
	h.agent = New(h.q, h.opt)
	if adjust != nil {
		adjust(h.agent)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.agent.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			h.t.Error("Run did not return after cancel")
		}
	})
}

// enqueue stores a message from sender to rcpts, received now.
func (h *harness) enqueue(m *envelope.Message) string {
	h.t.Helper()
	return h.enqueueBody(m, testBody)
}

// enqueueBody is enqueue with body instead of testBody.
func (h *harness) enqueueBody(m *envelope.Message, body string) string {
	h.t.Helper()
	m.ID = h.q.NewID()
	m.Received = h.clock.Now()
	m.Size = int64(len(body))
	if err := h.q.Enqueue(m, []byte(body)); err != nil {
		h.t.Fatal(err)
	}
	return m.ID
}

func msg(from string, rcpts ...string) *envelope.Message {
	m := &envelope.Message{From: from}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, envelope.Recipient{Addr: r, Status: envelope.RcptPending})
	}
	return m
}

func anyDelivered(m *envelope.Message) bool {
	for _, r := range m.Rcpts {
		if r.Status == envelope.RcptDelivered {
			return true
		}
	}
	return false
}

// recorded waits for the next attempt recorded for id. Records of other
// messages read meanwhile wait in the backlog for their own call.
func (h *harness) recorded(id string) *envelope.Message {
	h.t.Helper()
	deadline := time.After(waitLimit)
	for {
		var m *envelope.Message
		if b := h.backlog[id]; len(b) > 0 {
			m, h.backlog[id] = b[0], b[1:]
		} else {
			select {
			case m = <-h.q.modified:
			case <-deadline:
				h.t.Fatalf("no attempt recorded for %s", id)
				return nil
			}
			if m.ID != id {
				h.backlog[m.ID] = append(h.backlog[m.ID], m)
				continue
			}
		}
		// A multi-destination attempt records each destination's
		// delivered recipients before the next destination: that
		// record leaves Attempts as it was; wait for the attempt's.
		if early := m.State == envelope.StateActive && !m.Done() && m.Attempts == h.attempts[id] && m.LastError == h.lastErr[id] && anyDelivered(m); early {
			continue
		}
		h.attempts[id], h.lastErr[id] = m.Attempts, m.LastError
		return m
	}
}

// retryAfter moves the clock by d and makes the scheduler look again.
func (h *harness) retryAfter(d time.Duration) {
	h.clock.Advance(d)
	h.agent.Kick()
}

func (h *harness) gone(id string) bool {
	_, err := h.q.Get(id)
	return err == queue.ErrNotFound
}

func rcpt(m *envelope.Message, addr string) envelope.Recipient {
	for _, r := range m.Rcpts {
		if r.Addr == addr {
			return r
		}
	}
	return envelope.Recipient{}
}

// waitMsg waits for the sink's next message.
func waitMsg(t *testing.T, s *sink) sinkMsg {
	t.Helper()
	select {
	case m := <-s.arrived:
		return m
	case <-time.After(waitLimit):
		t.Fatalf("no message at %s", s.addr)
		return sinkMsg{}
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func tempFail(n int) error {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
}
