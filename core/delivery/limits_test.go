package delivery

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// limitsServer is a go-smtp sink (LMTP when lmtp) whose EHLO advertises
// LIMITS: go-smtp's own RCPTMAX=rcptMax, which it enforces with 452
// 4.5.3, followed by extra ("MAILMAX=2"); mailMax, when set, is enforced
// as a server that counts MAIL commands per session does, with 421.
type limitsServer struct {
	*sink
	refusedMail atomic.Int32 // MAIL commands past mailMax
	refusedRcpt atomic.Int32 // RCPT commands past RCPTMAX (452 4.5.3)
}

func startLimitsServer(t *testing.T, lmtp bool, rcptMax int, extra string, mailMax int) *limitsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := &limitsServer{sink: &sink{addr: ln.Addr().String(), rcptN: map[string]int{},
		arrived: make(chan sinkMsg, 100), inData: make(chan struct{}, 100)}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailMaxSession{sinkSession: &sinkSession{sink: ls.sink, conn: c}, ls: ls, max: mailMax}, nil
	}))
	srv.Domain, srv.LMTP = "limits.test", lmtp
	srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
	srv.MaxRecipients = rcptMax
	advertised := fmt.Sprintf("LIMITS RCPTMAX=%d", rcptMax)
	go func() {
		_ = srv.Serve(&limitsListener{Listener: ln, ls: ls,
			from: []byte(advertised), to: []byte(advertised + " " + extra)})
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return ls
}

// limitsListener counts the connections and, in what the server writes,
// the refusals past RCPTMAX, and rewrites from into to.
type limitsListener struct {
	net.Listener
	ls       *limitsServer
	from, to []byte
}

func (l *limitsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.ls.mu.Lock()
	l.ls.conns++
	l.ls.mu.Unlock()
	return &rewriteConn{Conn: c, ls: l.ls, from: l.from, to: l.to}, nil
}

type rewriteConn struct {
	net.Conn
	ls       *limitsServer
	from, to []byte
}

func (c *rewriteConn) Write(p []byte) (int, error) {
	c.ls.refusedRcpt.Add(int32(bytes.Count(p, []byte("452 4.5.3 "))))
	if _, err := c.Conn.Write(bytes.ReplaceAll(p, c.from, c.to)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// mailMaxSession refuses, with 421, the MAIL commands of its session past
// max (0: none).
type mailMaxSession struct {
	*sinkSession
	ls    *limitsServer
	max   int
	mails int
}

func (s *mailMaxSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.mails++; s.max > 0 && s.mails > s.max {
		s.ls.refusedMail.Add(1)
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages in this session"}
	}
	return s.sinkSession.Mail(from, opts)
}

// sentOnce fails unless every address of want was sent to s exactly once
// (no RCPT refused and sent again).
func sentOnce(t *testing.T, s *limitsServer, want []string) {
	t.Helper()
	if n := s.refusedRcpt.Load(); n != 0 {
		t.Errorf("%d RCPT commands past RCPTMAX", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range want {
		if n := s.rcptN[a]; n != 1 {
			t.Errorf("%s: RCPT sent %d times, want once", a, n)
		}
	}
}

// A server advertising LIMITS RCPTMAX=2 (RFC 9422) gets at most 2
// recipients a transaction, fewer when recipients_per_transaction (or the
// route's recipient_limit=) is lower, and never a RCPT past its limit
// that it would refuse with 452 to have it sent again.
func TestLimitsRcptMax(t *testing.T) {
	for _, c := range []struct {
		perTx int
		route string
		want  []int
	}{
		{0, "", []int{2, 2, 1}}, // the default, 50
		{-1, "", []int{2, 2, 1}},
		{1, "", []int{1, 1, 1, 1, 1}},
		{0, "?recipient_limit=3", []int{2, 2, 1}},
		{0, "?recipient_limit=1", []int{1, 1, 1, 1, 1}},
	} {
		t.Run(fmt.Sprintf("%d%s", c.perTx, c.route), func(t *testing.T) {
			s := startLimitsServer(t, false, 2, "", 0)
			h := newHarness(t)
			h.opt.Config.RecipientsPerTransaction = c.perTx
			h.start()
			all := rcptList(5, "dest.test")
			var pairs []string
			for _, a := range all {
				pairs = append(pairs, a, "smtp:"+s.addr+c.route)
			}
			id := h.enqueue(withRoutes("s@origin.test", pairs...))
			if rec := h.recorded(id); !rec.Done() {
				t.Fatalf("after the attempt: %+v, want done", rec)
			}
			if got := batches(s.messages()); !slices.Equal(got, c.want) || s.connections() != 1 {
				t.Errorf("transactions of %v on %d connections, want %v on one", got, s.connections(), c.want)
			}
			sentOnce(t, s, all)
		})
	}
}

// LMTP takes an LHLO's LIMITS RCPTMAX as SMTP takes EHLO's (RFC 9422
// covers both).
func TestLimitsRcptMaxLMTP(t *testing.T) {
	s := startLimitsServer(t, true, 3, "", 0)
	h := newHarness(t)
	h.start()
	all := rcptList(7, "mail.test")
	var pairs []string
	for _, a := range all {
		pairs = append(pairs, a, "lmtp:tcp:"+s.addr)
	}
	rec := h.recorded(h.enqueue(withRoutes("s@origin.test", pairs...)))
	for _, a := range all {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered {
			t.Errorf("%s: %+v, want delivered", a, r)
		}
	}
	if got := batches(s.messages()); !slices.Equal(got, []int{3, 3, 1}) {
		t.Errorf("transactions of %v, want [3 3 1]", got)
	}
	sentOnce(t, s, all)
}

// A server advertising LIMITS MAILMAX=2 gets at most 2 transactions a
// session: the third goes on a new connection rather than to a MAIL the
// server would answer 421. messages_per_connection, when lower, stands.
func TestLimitsMailMax(t *testing.T) {
	for _, c := range []struct {
		perConn, wantConns int
	}{{0, 3}, {1, 5}} {
		t.Run(strconv.Itoa(c.perConn), func(t *testing.T) {
			s := startLimitsServer(t, false, 1, "MAILMAX=2", 2)
			h := newHarness(t)
			h.opt.Config.Relay = s.addr
			h.opt.Routing.MessagesPerConnection = c.perConn
			h.start()
			all := rcptList(5, "dest.test")
			if rec := h.recorded(h.enqueue(msg("s@origin.test", all...))); !rec.Done() {
				t.Fatalf("after the attempt: %+v, want done", rec)
			}
			if n := s.refusedMail.Load(); n != 0 {
				t.Errorf("%d MAIL commands past MAILMAX", n)
			}
			if got := batches(s.messages()); !slices.Equal(got, []int{1, 1, 1, 1, 1}) || s.connections() != c.wantConns {
				t.Errorf("transactions of %v on %d connections, want five of 1 on %d", got, s.connections(), c.wantConns)
			}
			sentOnce(t, s, all)
		})
	}
}

// A session kept in the pool counts its transactions of earlier messages
// towards MAILMAX: the next message's first transaction after the limit
// opens a new connection.
func TestLimitsMailMaxAcrossMessages(t *testing.T) {
	s := startLimitsServer(t, false, 10, "MAILMAX=2", 2)
	h := newHarness(t)
	h.opt.Config.Relay = s.addr
	h.start()
	for i := range 3 {
		if rec := h.recorded(h.enqueue(msg("s@origin.test", fmt.Sprintf("r%d@dest.test", i)))); !rec.Done() {
			t.Fatalf("message %d: %+v, want done", i, rec)
		}
	}
	if n := s.refusedMail.Load(); n != 0 {
		t.Errorf("%d MAIL commands past MAILMAX", n)
	}
	if n := s.connections(); n != 2 {
		t.Errorf("%d connections for 3 messages, want 2", n)
	}
}

// LIMITS parameters: RCPTMAX and MAILMAX in any case and order, unknown
// limits skipped, and a value that is not a positive decimal number
// read as no limit.
func TestParseLimits(t *testing.T) {
	for _, c := range []struct {
		in            string
		rcpt, mailMax int
	}{
		{"RCPTMAX=100 MAILMAX=1000", 100, 1000},
		{"MAILMAX=3 RCPTDOMAINMAX=1 RCPTMAX=7", 7, 3},
		{"rcptmax=10", 10, 0},
		{"RCPTDOMAINMAX=5", 0, 0},
		{"", 0, 0},
		{"RCPTMAX", 0, 0},
		{"RCPTMAX=", 0, 0},
		{"RCPTMAX=0", 0, 0},
		{"RCPTMAX=+5", 0, 0},
		{"RCPTMAX=-5", 0, 0},
		{"RCPTMAX=5x", 0, 0},
		{"RCPTMAX=1000000000", 0, 0},
		{"RCPTMAX=999999999", 999999999, 0},
		{"  RCPTMAX=4   MAILMAX=2 ", 4, 2},
	} {
		if r, m := parseLimits(c.in); r != c.rcpt || m != c.mailMax {
			t.Errorf("%q: RCPTMAX %d MAILMAX %d, want %d %d", c.in, r, m, c.rcpt, c.mailMax)
		}
	}
}

// Reading the limits costs a connection nothing per transaction, and no
// allocation.
func TestParseLimitsAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { parseLimits("RCPTMAX=100 MAILMAX=1000 RCPTDOMAINMAX=3") }); n != 0 {
		t.Errorf("%v allocations, want none", n)
	}
}
