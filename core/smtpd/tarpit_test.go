package smtpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// tarpitWaits stands for the server's Sleep: it records each wait asked
// for and, when block is set, holds it until its context ends (at most
// waitBound), telling entered and ended.
type tarpitWaits struct {
	mu      sync.Mutex
	waits   []time.Duration
	block   bool
	entered chan struct{}
	ended   chan error
}

const waitBound = 10 * time.Second

func newTarpitWaits(block bool) *tarpitWaits {
	return &tarpitWaits{block: block, entered: make(chan struct{}, 8), ended: make(chan error, 8)}
}

func (w *tarpitWaits) sleep(ctx context.Context, d time.Duration) {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	if !w.block {
		return
	}
	w.entered <- struct{}{}
	select {
	case <-ctx.Done():
		w.ended <- ctx.Err()
	case <-time.After(waitBound):
		w.ended <- errors.New("the wait was not ended")
	}
}

func (w *tarpitWaits) asked() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.waits...)
}

// withTarpit runs the server with the default soft_errors and
// error_delay (the test config turns them off), its waits w's.
func withTarpit(w *tarpitWaits) func(*Options) {
	def := config.Default().Limits
	return func(o *Options) {
		o.Sleep = w.sleep
		o.Config.Limits.SoftErrors, o.Config.Limits.ErrorDelay = def.SoftErrors, def.ErrorDelay
		o.Config.Limits.MaxErrors = def.MaxErrors
	}
}

// relayDenied is the refusal the tests provoke errors with: a recipient
// at another domain from a client outside relay_networks.
func relayDenied(d *dialog, i int) {
	d.t.Helper()
	d.cmd(fmt.Sprintf("RCPT TO:<guess%d@elsewhere.example>", i), "554 5.7.1 Relay access denied")
}

// The first 10 errors (Postfix's smtpd_soft_error_limit) are answered at
// once; after them every reply waits error_delay (1s, Postfix's
// smtpd_error_sleep_time) before it is written, as Postfix's
// smtpd_chat_reply sleeps before any reply once the count has reached
// the limit: an accepted RCPT, a NOOP, the 11th error, an unknown
// command. No reply waits twice: the 421 at max_errors, whether Sluice
// (a refused RCPT) or go-smtp (an unknown command) writes it, waits once.
// A reload turning the tarpit off applies at the next reply.
func TestErrorTarpit(t *testing.T) {
	for _, last := range []struct{ cmd, by string }{
		{"RCPT TO:<guess21@elsewhere.example>", "a refused RCPT"},
		{"FROBNICATE", "an unknown command"},
	} {
		w := newTarpitWaits(false)
		h := start(t, withTarpit(w))
		d := h.dial()
		d.ehlo()
		d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
		for i := 1; i <= 10; i++ {
			relayDenied(d, i)
			if i < 10 {
				d.cmd("RCPT TO:<r@example.org>", rcptOK("r@example.org"))
			}
		}
		if got := w.asked(); len(got) != 0 {
			t.Fatalf("waits %v within the first 10 errors, want none", got)
		}
		d.cmd("RCPT TO:<r2@example.org>", rcptOK("r2@example.org"))
		if got := w.asked(); len(got) != 1 || got[0] != time.Second {
			t.Fatalf("waits %v before the 250 after 10 errors, want [1s]", got)
		}
		if n := strings.Count(h.logs.String(), `msg="error tarpit"`); n != 1 || !strings.Contains(h.logs.String(), "errors=10 error_delay=1s") {
			t.Errorf("tarpit logged %d times, want once with errors=10:\n%s", n, h.logs.String())
		}
		d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		relayDenied(d, 11)
		d.cmd("FROBNICATE", "500 5.5.2 Syntax errors, FROBNICATE command unrecognized")
		if got := w.asked(); len(got) != 4 {
			t.Fatalf("waits %v, want 4: the 250s, the 11th error, the unknown command", got)
		}
		for i := 13; i <= 20; i++ {
			relayDenied(d, i)
		}
		d.send(last.cmd)
		d.expect("421 4.7.0 Too many errors, closing connection")
		d.expectClosed()
		if got := w.asked(); len(got) != 13 {
			t.Errorf("%d waits by max_errors' 421 after %s, want 13 (2 replies that are no error, errors 11 to 21)", len(got), last.by)
		}
		if n := strings.Count(h.logs.String(), `msg="error tarpit"`); n != 1 {
			t.Errorf("tarpit logged %d times, want once", n)
		}
	}

	// Off at a reload: error_delay = "0s", or soft_errors = -1.
	for _, off := range []func(*config.Limits){
		func(l *config.Limits) { l.ErrorDelay.Duration = 0 },
		func(l *config.Limits) { l.SoftErrors = -1 },
	} {
		w := newTarpitWaits(false)
		h := start(t, withTarpit(w))
		d := h.dial()
		d.ehlo()
		d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
		for i := 1; i <= 11; i++ {
			relayDenied(d, i)
		}
		next := *h.cfg
		next.Limits = *h.srv.lim()
		off(&next.Limits)
		h.srv.SetLimits(&next)
		relayDenied(d, 12)
		d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		if got := w.asked(); len(got) != 1 {
			t.Errorf("waits %v, want only the one before the reload turned the tarpit off", got)
		}
	}
}

// Past the limit the 221 to QUIT waits once, as in Postfix; a new
// connection's greeting does not wait, its count beginning at none.
func TestErrorTarpitQuit(t *testing.T) {
	w := newTarpitWaits(false)
	h := start(t, withTarpit(w))
	d := h.dial()
	d.ehlo()
	d.mailFrom("a@example.org")
	for i := 1; i <= 10; i++ {
		relayDenied(d, i)
	}
	d.cmd("QUIT", "221 2.0.0 Bye")
	d.expectClosed()
	if got := w.asked(); len(got) != 1 {
		t.Fatalf("waits %v by the 221, want one", got)
	}
	d = h.dial()
	d.ehlo()
	if got := w.asked(); len(got) != 1 {
		t.Errorf("waits %v, want none more for a new connection's greeting and EHLO", got)
	}
}

// A reply waits once however many errors its command made: an XCLIENT
// from a client not in xclient_hosts, past max_junk_commands, is junk
// and refused, two errors (as in Postfix), and its 550 waits error_delay
// once, as Postfix's smtpd_chat_reply sleeps once a reply. It waited
// twice. Both errors still count towards max_errors.
func TestErrorTarpitOneWaitPerReply(t *testing.T) {
	const unknown = "500 5.5.2 Syntax errors, FROBNICATE command unrecognized"
	w := newTarpitWaits(false)
	h := start(t, withTarpit(w), withLimits(func(l *config.Limits) { l.MaxJunkCommands = 0 }))
	d := h.dial()
	d.ehlo()
	for i := 1; i <= 10; i++ {
		d.cmd("FROBNICATE", unknown)
	}
	d.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
	if got := w.asked(); len(got) != 1 {
		t.Fatalf("waits %v for the 550 to XCLIENT (errors 11 and 12), want one", got)
	}
	for i := 13; i <= 20; i++ {
		d.cmd("FROBNICATE", unknown)
	}
	d.send("FROBNICATE")
	d.expect("421 4.7.0 Too many errors, closing connection")
	d.expectClosed()
	if got := w.asked(); len(got) != 10 {
		t.Errorf("%d waits, want 10: the 550, errors 13 to 20, the 421 at the 21st", len(got))
	}
}

// A reply held back longer than command_timeout is still written: go-smtp
// set the write deadline before the wait, and it is set again after it.
// The wait is the server's own (Options.Sleep left out).
func TestErrorTarpitLongerThanCommandTimeout(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) {
		l.SoftErrors, l.ErrorDelay.Duration = 1, 1200*time.Millisecond
		l.CommandTimeout.Duration = time.Second
	}))
	d := h.dial()
	d.ehlo()
	d.mailFrom("a@example.org")
	relayDenied(d, 1)
	d.cmd("RCPT TO:<r@example.org>", rcptOK("r@example.org"))
}

// A clean session waits nowhere; a queued message forgives the errors so
// far (as max_errors' count), so the tarpit starts again after 10 more.
func TestErrorTarpitCleanSession(t *testing.T) {
	w := newTarpitWaits(false)
	h := start(t, withTarpit(w), withLimits(func(l *config.Limits) { l.MaxRecipients = 100 }))
	d := h.dial()
	d.ehlo()
	for m := range 3 {
		d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
		for i := range 30 {
			to := fmt.Sprintf("u%d-%d@example.org", m, i)
			d.cmd("RCPT TO:<"+to+">", rcptOK(to))
		}
		d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw("Subject: x\r\n\r\n.\r\n")
		d.queued()
	}
	if got := w.asked(); len(got) != 0 {
		t.Fatalf("a clean session waited %v", got)
	}

	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := 1; i <= 10; i++ {
		relayDenied(d, i)
	}
	// The RCPT's 250 and DATA's 354 wait; the message's 250 comes after
	// it has forgiven the errors.
	d.cmd("RCPT TO:<r@example.org>", rcptOK("r@example.org"))
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := 1; i <= 10; i++ {
		relayDenied(d, i)
	}
	if got := w.asked(); len(got) != 2 {
		t.Fatalf("waits %v: want the 250 and the 354 after 10 errors, and none once a queued message forgave them", got)
	}
	relayDenied(d, 11)
	if got := w.asked(); len(got) != 3 {
		t.Fatalf("waits %v after 11 errors since the message, want one more", got)
	}
}

// provokeWait makes 11 errors on a new session, the last one's reply held
// in the tarpit's wait, and returns the session. The 11th RCPT goes in
// one write with the more lines given, which the server reads at once.
func provokeWait(t *testing.T, h *harness, w *tarpitWaits, more ...string) *dialog {
	t.Helper()
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := 1; i <= 10; i++ {
		relayDenied(d, i)
	}
	d.send(append([]string{"RCPT TO:<guess11@elsewhere.example>"}, more...)...)
	select {
	case <-w.entered:
	case <-time.After(waitBound):
		t.Fatal("the 11th error did not wait")
	}
	return d
}

// waitEnded asserts the tarpit's wait ended by its context, not at the
// bound.
func waitEnded(t *testing.T, w *tarpitWaits, by string) {
	t.Helper()
	select {
	case err := <-w.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the wait was not ended by %s: %v", by, err)
		}
	case <-time.After(2 * waitBound):
		t.Fatalf("the wait did not end")
	}
}

// A client that hangs up while its reply is held ends the wait at once:
// the session does not keep its connection (and its max_connections
// slot) for the rest of the delay. One that closed only its sending side
// after pipelining more guesses is closed on unanswered: answered at
// once, its guesses would go round the tarpit.
func TestErrorTarpitEndsAtHangup(t *testing.T) {
	w := newTarpitWaits(true)
	h := start(t, withTarpit(w))
	d := provokeWait(t, h, w)
	_ = d.c.Close()
	waitEnded(t, w, "the client's hang-up")

	// The 11th to 13th guesses in one write, then the half-close.
	d = provokeWait(t, h, w, "RCPT TO:<guess12@elsewhere.example>", "RCPT TO:<guess13@elsewhere.example>")
	if err := d.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, w, "the client's half-close")
	d.expectClosed()
	if got := w.asked(); len(got) != 2 {
		t.Errorf("waits %v, want the two the hang-ups ended", got)
	}
}

// Shutdown ends a wait in progress: the reply is written, and the
// session's later errors, while it may still finish its transaction,
// wait no more.
func TestErrorTarpitEndsAtShutdown(t *testing.T) {
	w := newTarpitWaits(true)
	h := start(t, withTarpit(w))
	d := provokeWait(t, h, w)
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		stopped <- h.srv.Shutdown(ctx)
	}()
	waitEnded(t, w, "Shutdown")
	d.expect("554 5.7.1 Relay access denied")
	relayDenied(d, 12)
	if got := w.asked(); len(got) != 1 {
		t.Errorf("waits %v, want none after Shutdown began", got)
	}
	_ = d.c.Close()
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// Under STARTTLS the session goes on after its waits as in the clear:
// watching for a hang-up reads nothing of the TLS stream.
func TestErrorTarpitTLS(t *testing.T) {
	w := newTarpitWaits(false)
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withTarpit(w))
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.mailFrom("a@example.org")
	for i := 1; i <= 13; i++ {
		relayDenied(d, i)
	}
	d.cmd("RCPT TO:<r@example.org>", rcptOK("r@example.org"))
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	if got := w.asked(); len(got) != 5 {
		t.Errorf("waits %v, want 5 (errors 11 to 13, the 250 and the 354)", got)
	}
}

// A connection makes the tarpit's context at its first wait, not when
// it is accepted: most never wait, and the context with its cancel
// function were two allocations of every session. After endWaits no
// wait begins, and none makes one.
func TestErrorTarpitContextAtFirstWait(t *testing.T) {
	w := newTarpitWaits(false)
	h := start(t, withTarpit(w))
	h.srv.mu.Lock()
	l := h.srv.listeners[0]
	h.srv.mu.Unlock()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	made := func(c *conn) bool {
		c.waitMu.Lock()
		defer c.waitMu.Unlock()
		return c.waitCtx != nil
	}
	c := newConn(l, a)
	for range 10 {
		c.countError()
		c.beforeReply()
	}
	if made(c) || len(w.asked()) != 0 {
		t.Fatalf("within soft_errors: context made %v, waits %v; want none", made(c), w.asked())
	}
	c.beforeReply() // a reply after 10 errors
	if !made(c) || len(w.asked()) != 1 {
		t.Fatalf("at the first wait: context made %v, waits %v; want one", made(c), w.asked())
	}

	c = newConn(l, a)
	c.endWaits()
	for range 11 {
		c.countError()
	}
	c.beforeReply()
	if made(c) || len(w.asked()) != 1 {
		t.Errorf("after endWaits: context made %v, waits %v; want none more", made(c), w.asked())
	}
}
