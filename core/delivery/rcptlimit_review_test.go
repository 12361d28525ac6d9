package delivery

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// firstConnOnly hands its first connection to the server and closes each
// later one at once, as a server that stops taking connections does.
type firstConnOnly struct {
	net.Listener
	taken atomic.Bool
}

func (l *firstConnOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.taken.CompareAndSwap(false, true) {
			return c, err
		}
		_ = c.Close()
	}
}

// oneConnectionSink is a go-smtp sink at addr that serves its first
// connection only.
func oneConnectionSink(t *testing.T, addr string) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{addr: ln.Addr().String(), rcptN: map[string]int{},
		arrived: make(chan sinkMsg, 100), inData: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s, conn: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
	go func() { _ = srv.Serve(&firstConnOnly{Listener: ln}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// A recipient a later transaction never carried (no new connection to be
// had after the first's) has Sluice's own reply: with the fallback relay
// in backoff it keeps that reply, and names no Remote-MTA, not the MX that
// took the first transaction (RFC 3464 §2.3.5).
func TestRecipientLimitNeverSentNoRemoteMTA(t *testing.T) {
	h := newHarness(t)
	h.opt.Routing.BackoffAfter = 1
	h.opt.Routing.MessagesPerConnection = 1
	h.opt.Config.RecipientsPerTransaction = 1
	h.useDNS(nil,
		"one.test. MX 10 mx1.one.test.", "mx1.one.test. A 127.0.0.4", // nothing listens
		"two.test. MX 10 mx1.two.test.", "mx1.two.test. A 127.0.0.2")
	mx := oneConnectionSink(t, net.JoinHostPort("127.0.0.2", strconv.Itoa(h.port)))
	fbDown := startDropper(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)))
	h.opt.Config.FallbackRelay = []string{net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port))}
	h.start()
	// Puts the fallback relay in backoff.
	h.recorded(h.enqueue(msg("s@origin.test", "x@one.test")))
	if n := fbDown.connections(); n != 1 {
		t.Fatalf("fallback relay dialled %d times, want once", n)
	}
	rec := h.recorded(h.enqueue(msg("s@origin.test", "a@two.test", "b@two.test")))
	if r := rcpt(rec, "a@two.test"); r.Status != envelope.RcptDelivered || r.RemoteMTA != "mx1.two.test" {
		t.Errorf("a: %+v, want delivered by mx1.two.test", r)
	}
	if got := batches(mx.messages()); len(got) != 1 {
		t.Fatalf("the MX took transactions of %v, want the first alone", got)
	}
	r := rcpt(rec, "b@two.test")
	if r.Status != envelope.RcptPending {
		t.Fatalf("b: %+v, want deferred", r)
	}
	if r.RemoteMTA != "" {
		t.Errorf("b: Remote-MTA %q for Sluice's own reply %q, want none", r.RemoteMTA, r.LastReply)
	}
}

// A message held during a transaction is sent no further: neither its
// next transaction nor, for a recipient the MX deferred, the fallback
// relay.
func TestRecipientLimitHoldStopsFallback(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	s := h.sinkAt("127.0.0.1", sinkOptions{dataGate: gate, rcpt: func(addr string, _ int) error {
		if addr == "x@dest.test" {
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "greylisted"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.RecipientsPerTransaction = 2
	fb := h.withFallback(sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "x@dest.test", "y@dest.test", "z@dest.test"))
	waitInData(t, s)
	h.administer("hold", id)
	close(gate)
	h.waitIdle(id)
	if got := batches(s.messages()); len(got) != 1 {
		t.Errorf("the relay took transactions of %v, want the one under way at the hold", got)
	}
	if n := len(fb.messages()); n != 0 || fb.connections() != 0 {
		t.Errorf("the fallback relay got %d messages on %d connections after the hold, want none", n, fb.connections())
	}
	m := h.held(id)
	if r := rcpt(m, "x@dest.test"); r.Status != envelope.RcptPending || r.LastReply != "450 4.2.0 greylisted" {
		t.Errorf("x: %+v, want the relay's deferral", r)
	}
	if r := rcpt(m, "z@dest.test"); r.Status != envelope.RcptPending || r.Attempts != 0 {
		t.Errorf("z: %+v, want pending, not tried", r)
	}
}
