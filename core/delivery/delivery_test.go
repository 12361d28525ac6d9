package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

func TestRelayDelivery(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("sender@origin.test", "a@dest.test", "b@other.test")
	m.SMTPUTF8 = true
	id := h.enqueue(m)

	got := waitMsg(t, s)
	if got.from != "sender@origin.test" || !slices.Equal(got.rcpts, []string{"a@dest.test", "b@other.test"}) {
		t.Errorf("envelope = %q %q", got.from, got.rcpts)
	}
	if got.body != testBody {
		t.Errorf("body = %q, want %q", got.body, testBody)
	}
	if got.helo != "mta.sluice.test" {
		t.Errorf("EHLO %q, want the configured hostname", got.helo)
	}
	if got.opts.Size != int64(len(testBody)) || !got.opts.UTF8 {
		t.Errorf("MAIL parameters = %+v, want SIZE=%d and SMTPUTF8", got.opts, len(testBody))
	}
	rec := h.recorded(id)
	for _, r := range rec.Rcpts {
		if r.Status != envelope.RcptDelivered || r.Attempts != 1 || !strings.HasPrefix(r.LastReply, "250 ") {
			t.Errorf("recipient %+v, want delivered after 1 attempt with the 250 reply", r)
		}
	}
	if !h.gone(id) {
		t.Error("a fully delivered message must leave the queue")
	}
}

func TestTwoDomainsGetOneTransactionEach(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
	)
	one := h.sinkAt("127.0.0.2", sinkOptions{})
	two := h.sinkAt("127.0.0.3", sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@one.test", "b@TWO.test", "c@one.test"))

	if got := waitMsg(t, one); !slices.Equal(got.rcpts, []string{"a@one.test", "c@one.test"}) {
		t.Errorf("one.test got %q", got.rcpts)
	}
	if got := waitMsg(t, two); !slices.Equal(got.rcpts, []string{"b@TWO.test"}) {
		t.Errorf("two.test got %q", got.rcpts)
	}
	rec := h.recorded(id)
	if !rec.Done() || rec.Attempts != 1 {
		t.Errorf("message after attempt: %+v", rec)
	}
	if n := len(one.messages()) + len(two.messages()); n != 2 {
		t.Errorf("%d transactions, want 2", n)
	}
}

func TestTempFailuresThenDeliveredOnce(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(_ string, n int) error {
		if n <= 2 {
			return tempFail(n)
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	t0 := h.clock.Now()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))

	rec := h.recorded(id)
	r := rcpt(rec, "r@dest.test")
	if r.Status != envelope.RcptPending || r.Attempts != 1 || r.LastReply != "451 4.3.0 try later" {
		t.Fatalf("after attempt 1: %+v", r)
	}
	if want := t0.Add(5 * time.Minute); !rec.NextAttempt.Equal(want) || rec.Attempts != 1 {
		t.Fatalf("next attempt %v (attempts %d), want %v", rec.NextAttempt, rec.Attempts, want)
	}

	h.retryAfter(5 * time.Minute)
	rec = h.recorded(id)
	if want := h.clock.Now().Add(10 * time.Minute); !rec.NextAttempt.Equal(want) {
		t.Fatalf("second retry at %v, want %v (second entry of the retry list)", rec.NextAttempt, want)
	}

	h.retryAfter(10 * time.Minute)
	rec = h.recorded(id)
	r = rcpt(rec, "r@dest.test")
	if r.Status != envelope.RcptDelivered || r.Attempts != 3 || rec.Attempts != 3 {
		t.Fatalf("after attempt 3: %+v (message attempts %d)", r, rec.Attempts)
	}
	if n := len(s.messages()); n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
	if !h.gone(id) {
		t.Error("delivered message still queued")
	}
}

// TestPermanentRejectOfOneRecipient, with and without PIPELINING (RFC
// 2920): MAIL, the RCPTs and DATA go as one group when the server offers
// it, one at a time when not, with the same outcomes.
func TestPermanentRejectOfOneRecipient(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			s := testPermanentRejectOfOneRecipient(t, pipelining)
			next := s.lineAfter("MAIL FROM:<s@origin.test>")
			if pipelining && !strings.HasPrefix(next, "RCPT TO:<good1@dest.test>") {
				t.Errorf("after MAIL the sink read %q, want the first RCPT in the same group", next)
			}
			if !pipelining && !strings.HasPrefix(next, "250 ") {
				t.Errorf("after MAIL came %q, want its reply before the next command", next)
			}
		})
	}
}

func testPermanentRejectOfOneRecipient(t *testing.T, pipelining bool) *sink {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{noPipelining: !pipelining, rcpt: func(addr string, _ int) error {
		if addr == "bad@dest.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "good1@dest.test", "bad@dest.test", "good2@dest.test"))

	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"good1@dest.test", "good2@dest.test"}) {
		t.Errorf("delivered to %q", got.rcpts)
	}
	rec := h.recorded(id)
	if r := rcpt(rec, "bad@dest.test"); r.Status != envelope.RcptFailed || r.LastReply != "550 5.1.1 no such user" {
		t.Errorf("rejected recipient: %+v", r)
	}
	for _, a := range []string{"good1@dest.test", "good2@dest.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered {
			t.Errorf("%s: %+v", a, r)
		}
	}
	if !h.gone(id) {
		t.Error("message with every recipient done still queued")
	}
	return s
}

func TestTempFailAtDataKeepsAllPending(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{data: func(n int) error { return tempFail(n) }})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test"))
	rec := h.recorded(id)
	for _, r := range rec.Rcpts {
		if r.Status != envelope.RcptPending || r.LastReply != "451 4.3.0 try later" {
			t.Errorf("%+v, want pending with the DATA reply", r)
		}
	}
}

func TestDNSOutcomes(t *testing.T) {
	h := newHarness(t)
	h.useDNS([]string{"broken.test"},
		"nullmx.test. MX 0 .",
		"implicit.test. A 127.0.0.2",
		"nohost.test. TXT \"v=spf1 -all\"",
	)
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test",
		"a@nullmx.test", "b@nowhere.test", "c@implicit.test", "d@broken.test", "e@nohost.test"))

	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"c@implicit.test"}) {
		t.Errorf("implicit MX delivery got %q", got.rcpts)
	}
	rec := h.recorded(id)
	want := map[string]struct {
		status envelope.RcptStatus
		code   string
	}{
		"a@nullmx.test":   {envelope.RcptFailed, "556 5.1.10 "}, // RFC 7505
		"b@nowhere.test":  {envelope.RcptFailed, "550 5.1.2 "},  // NXDOMAIN
		"c@implicit.test": {envelope.RcptDelivered, "250 "},
		"d@broken.test":   {envelope.RcptPending, "451 4.4.3 "}, // SERVFAIL
		"e@nohost.test":   {envelope.RcptFailed, "550 5.1.2 "},  // no MX, no A
	}
	for addr, w := range want {
		r := rcpt(rec, addr)
		if r.Status != w.status || !strings.HasPrefix(r.LastReply, w.code) {
			t.Errorf("%s: %s %q, want %s %q…", addr, r.Status, r.LastReply, w.status, w.code)
		}
	}
}

func TestFallsBackToNextMX(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4", // nothing listens there
		"dest.test. MX 20 mx2.dest.test.", "mx2.dest.test. A 127.0.0.2",
	)
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("%+v", r)
	}
}

func TestUnreachableMXDefersWithConnectionError(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4")
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.1 ") ||
		!strings.Contains(r.LastReply, fmt.Sprintf("mx1.dest.test[127.0.0.4]:%d", h.port)) {
		t.Errorf("%+v", r)
	}
}

func TestExpiryAfterMaxAge(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(_ string, n int) error { return tempFail(n) }})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = time.Hour
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptPending {
		t.Fatalf("first attempt: %+v", r)
	}
	h.retryAfter(2 * time.Hour)
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptFailed || r.LastReply != "554 5.4.7 Delivery time expired (451 4.3.0 try later)" {
		t.Fatalf("after max_age: %+v", r)
	}
	if !h.gone(id) {
		t.Error("expired message still queued")
	}
}

func TestConnectionReusedForNextMessage(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.start()
	id1 := h.enqueue(msg("s@origin.test", "a@dest.test"))
	h.recorded(id1)
	id2 := h.enqueue(msg("s@origin.test", "b@dest.test"))
	h.recorded(id2)
	if n := len(s.messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	if n := s.connections(); n != 1 {
		t.Fatalf("%d connections for two messages, want 1 reused", n)
	}
	// The reply to the final dot ends a transaction (RFC 5321 §4.1.1.4):
	// no RSET round trip before the next MAIL.
	if n := strings.Count(s.transcript.String(), "\nRSET\r\n"); n != 0 {
		t.Errorf("%d RSET commands between delivered messages, want none", n)
	}
}

func TestDroppedIdleConnectionIsReplaced(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.start()
	id1 := h.enqueue(msg("s@origin.test", "a@dest.test"))
	h.recorded(id1)
	s.hangUp()
	id2 := h.enqueue(msg("s@origin.test", "b@dest.test"))
	if r := rcpt(h.recorded(id2), "b@dest.test"); r.Status != envelope.RcptDelivered || r.Attempts != 1 {
		t.Fatalf("%+v: a dead pooled connection must not cost an attempt", r)
	}
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestShutdownWaitsForInflightDelivery(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	s := h.sinkAt("127.0.0.1", sinkOptions{dataGate: gate})
	h.opt.Config.Relay = s.addr
	a := New(h.q, h.opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))

	select {
	case <-s.inData:
	case <-time.After(waitLimit):
		t.Fatal("delivery did not reach DATA")
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned with a delivery in flight")
	default:
	}
	close(gate)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v: the in-flight delivery must complete and be recorded", r)
	}
}

func TestPerDestinationLimit(t *testing.T) {
	const limit, messages = 2, 6
	h := newHarness(t)
	gate := make(chan struct{})
	s := h.sinkAt("127.0.0.1", sinkOptions{dataGate: gate})
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	h.opt.Config.Relay = s.addr
	h.opt.Config.Workers = messages
	h.opt.Config.PerDestination = limit
	waiting := make(chan int, 100)
	for range messages {
		h.enqueue(msg("s@origin.test", "r@dest.test"))
	}
	h.startWith(func(a *Agent) {
		a.pool.waitHook = func(_ string, n int) { waiting <- n }
	})

	// Two sessions sit in DATA; the four other deliveries must queue for
	// a slot instead of opening more connections.
	for range limit {
		select {
		case <-s.inData:
		case <-time.After(waitLimit):
			t.Fatal("sessions did not reach DATA")
		}
	}
	for n := 0; n < messages-limit; {
		select {
		case n = <-waiting:
		case <-time.After(waitLimit):
			t.Fatalf("only %d deliveries wait for a slot, want %d", n, messages-limit)
		}
	}
	close(gate)
	for range messages {
		waitMsg(t, s)
	}
	if n := s.connections(); n != limit {
		t.Fatalf("%d connections, want %d (the limit, reused)", n, limit)
	}
}

func TestOpportunisticSTARTTLS(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "sink.test")}}})
	h.opt.Config.Relay = s.addr
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	got := waitMsg(t, s)
	if !got.tls || got.helo != "mta.sluice.test" {
		t.Fatalf("tls=%v helo=%q: want the message over TLS, EHLO repeated with our name", got.tls, got.helo)
	}
}

func TestSTARTTLSFailureRetriesInPlaintext(t *testing.T) {
	h := newHarness(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "sink.test")}}
	srvTLS.MaxVersion = tls.VersionTLS12
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: srvTLS})
	h.opt.Config.Relay = s.addr
	h.opt.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); got.tls {
		t.Fatal("handshake could not succeed, yet the message came over TLS")
	}
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2 (TLS attempt, then plaintext)", n)
	}
}

func TestOnlyPendingRecipientsAreAttempted(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "done@dest.test", "todo@dest.test", "dead@dest.test")
	m.Rcpts[0].Status = envelope.RcptDelivered
	m.Rcpts[0].Attempts = 1
	m.Rcpts[2].Status = envelope.RcptFailed
	id := h.enqueue(m)
	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"todo@dest.test"}) {
		t.Fatalf("sent to %q, want only the pending recipient", got.rcpts)
	}
	if r := rcpt(h.recorded(id), "done@dest.test"); r.Attempts != 1 {
		t.Fatalf("delivered recipient touched: %+v", r)
	}
}

func TestNullSender(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.start()
	h.enqueue(msg("", "r@dest.test"))
	if got := waitMsg(t, s); got.from != "" {
		t.Fatalf("MAIL FROM %q, want <>", got.from)
	}
}

// A server that drops the connection after the final dot may have the
// message: the recipients stay pending, retried, and the reply says the
// message may arrive twice (as Postfix's "lost connection … while sending
// end of data -- message may be sent more than once"), not a bare EOF.
func TestConnectionLostAfterDotIsRetried(t *testing.T) {
	h := newHarness(t)
	var s *sink
	s = h.sinkAt("127.0.0.1", sinkOptions{data: func(n int) error {
		if n == 1 {
			s.hangUp()
			return tempFail(n)
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test"))
	r := rcpt(h.recorded(id), "a@dest.test")
	if r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "lost connection with") ||
		!strings.Contains(r.LastReply, "after end of data, the message may be delivered more than once") {
		t.Fatalf("%+v, want pending with a lost-connection reply", r)
	}
	h.retryAfter(5 * time.Minute)
	if r := rcpt(h.recorded(id), "a@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered at the retry", r)
	}
}

// A 552 to RCPT ("too many recipients", as some servers answer it) is
// temporary (RFC 5321 §4.5.3.1.10): the recipient is not bounced. With the
// enhanced code 5.5.3 it is the transaction's size that was refused, so
// it goes in a new transaction at once; with another (5.2.2, mailbox
// full) it waits for the retry.
func TestRcpt552IsRetried(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		switch {
		case addr == "fourth@dest.test" && n == 1:
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 5, 3}, Message: "Too many recipients"}
		case addr == "full@dest.test" && n == 1:
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "first@dest.test", "fourth@dest.test", "full@dest.test"))
	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"first@dest.test"}) {
		t.Fatalf("delivered to %q", got.rcpts)
	}
	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"fourth@dest.test"}) {
		t.Fatalf("second transaction to %q", got.rcpts)
	}
	r := rcpt(h.recorded(id), "full@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "552 5.2.2 Mailbox full") {
		t.Fatalf("%+v, want pending after 552", r)
	}
	h.retryAfter(5 * time.Minute)
	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"full@dest.test"}) {
		t.Fatalf("retry delivered to %q", got.rcpts)
	}
}

// A message received with SMTPUTF8 whose envelope is ASCII but whose
// header section is not (a UTF-8 display name) must not go to a server
// without SMTPUTF8 (RFC 6531 §3.2, RFC 6532): it fails 553 5.6.7, as one
// with a UTF-8 envelope does. With an ASCII header section it goes,
// without the SMTPUTF8 parameter.
func TestSMTPUTF8HeadersNeedTheExtension(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{noSMTPUTF8: true})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("", "a@dest.test") // the null sender: no report to wait for
	m.SMTPUTF8 = true
	id := h.enqueueBody(m, "From: Jörg <s@origin.test>\r\nSubject: hi\r\n\r\nhéllo\r\n")
	if r := rcpt(h.recorded(id), "a@dest.test"); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "553 5.6.7") {
		t.Fatalf("%+v, want failed 553 5.6.7", r)
	}
	m = msg("s@origin.test", "b@dest.test")
	m.SMTPUTF8 = true
	h.enqueueBody(m, "From: <s@origin.test>\r\nSubject: hi\r\n\r\nhéllo\r\n")
	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"b@dest.test"}) || got.opts.UTF8 {
		t.Fatalf("delivered to %q with %+v, want b@dest.test without SMTPUTF8", got.rcpts, got.opts)
	}
	if n := len(s.messages()); n != 1 {
		t.Fatalf("%d messages at the sink, want only the ASCII-header one", n)
	}
}

// Recipients a server refuses for the transaction's size (452 4.5.3, RFC
// 5321 §4.5.3.1.10) go in a new transaction at once, in the same attempt,
// not after a retry interval; the others are not sent twice.
func TestTooManyRecipientsGoInANewTransaction(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		// The server takes two recipients in the first transaction.
		if (addr == "c@dest.test" || addr == "d@dest.test") && n == 1 {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test"))
	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"a@dest.test", "b@dest.test"}) {
		t.Fatalf("first transaction to %q", got.rcpts)
	}
	if got := waitMsg(t, s); !slices.Equal(got.rcpts, []string{"c@dest.test", "d@dest.test"}) {
		t.Fatalf("second transaction to %q", got.rcpts)
	}
	rec := h.recorded(id)
	for _, a := range []string{"a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered || r.Attempts != 1 {
			t.Errorf("%s: %+v, want delivered at the first attempt", a, r)
		}
	}
	if n := len(s.messages()); n != 2 {
		t.Errorf("%d messages at the sink, want 2", n)
	}
}

// What a server took in one transaction is saved before the next one for
// the recipients it refused for the transaction's size: a crash during the
// next must not send the first ones again. The state read back while the
// second transaction is under way is what a kill -9 would leave (every
// queue write is a synced commit).
func TestTooManyRecipientsSavesEachTransaction(t *testing.T) {
	h := newHarness(t)
	entered, resume := make(chan struct{}), make(chan struct{})
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "c@dest.test" && n == 1 {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
		}
		if addr == "c@dest.test" && n == 2 {
			entered <- struct{}{}
			<-resume
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test", "c@dest.test"))
	<-entered
	m, err := h.q.Get(id)
	close(resume)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"a@dest.test", "b@dest.test"} {
		if r := rcpt(m, a); r.Status != envelope.RcptDelivered {
			t.Errorf("%s during the second transaction: %+v, want saved as delivered", a, r)
		}
	}
	if r := rcpt(m, "c@dest.test"); r.Status == envelope.RcptDelivered {
		t.Errorf("c@dest.test saved as delivered before its transaction ended")
	}
	rec := h.recorded(id)
	for _, a := range []string{"a@dest.test", "b@dest.test", "c@dest.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered || r.Attempts != 1 {
			t.Errorf("%s: %+v, want delivered at the first attempt", a, r)
		}
	}
	if n := len(s.messages()); n != 2 {
		t.Errorf("%d messages at the sink, want 2", n)
	}
}
