package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
)

// Shutdown refuses new connections at once, ends idle sessions, and lets a
// session in DATA finish its message.
func TestShutdownLetsDataFinish(t *testing.T) {
	h := start(t)
	busy := h.dial()
	busy.ehlo()
	busy.envelope("b@example.org")
	busy.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	busy.raw("Subject: in flight\r\n\r\npart one\r\n")
	idle := h.dial()
	idle.ehlo()
	addr := h.addr("mx")

	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errc <- h.srv.Shutdown(ctx)
	}()

	// The idle session is told and closed (RFC 5321 §3.8); by then the
	// listener is closed too.
	idle.expect("421 4.3.2 Service shutting down, try again later")
	idle.expectClosed()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted during shutdown")
	}

	busy.raw("part two\r\n.\r\n")
	busy.queued()
	busy.expect("421 4.3.2 Service shutting down, try again later")
	busy.expectClosed()
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := len(h.messages()); n != 1 {
		t.Errorf("queue holds %d messages, want 1", n)
	}
}

// When ctx ends first, the sessions left are closed.
func TestShutdownDeadline(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: stalled\r\n\r\n")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	d.expectClosed()
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	h := start(t)
	taken := h.addr("mx")
	cfg := *h.cfg
	cfg.Listeners = append(cfg.Listeners[:0:0], cfg.Listeners...)
	cfg.Listeners[0].Listen = taken
	s, err := New(Options{Config: &cfg, Queue: h.q})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		_ = s.Shutdown(context.Background())
		t.Fatal("Start on a busy address succeeded")
	}
	if len(s.Addrs()) != 0 {
		t.Errorf("Addrs after a failed Start: %v", s.Addrs())
	}
}

// Under TLS the shutdown notice is not written: a clear-text line in the
// middle of TLS records would break the stream. The client sees a clean
// close instead.
func TestShutdownUnderTLSJustCloses(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
		})
	})
	tc, err := tls.Dial("tcp", h.addr("smtps"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	d := newDialog(t, tc)
	d.expect("220 mx.test ESMTP")
	d.send("EHLO client.test")
	for l := d.line(); !strings.HasPrefix(l, "250 "); l = d.line() {
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// A clean end of stream, not a broken TLS record.
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := d.r.ReadString('\n'); err != io.EOF || l != "" {
		t.Fatalf("got %q, %v; want a clean close (io.EOF)", l, err)
	}
}

// A session whose transaction Shutdown waits for, and which then ends
// with its own last reply (a stage's 521 or 421, the 221 to QUIT), gets
// no 421 shutdown notice after it: the connection closes, and a second
// reply would answer no command (RFC 5321 §4.2). The notice used to
// follow the closing reply as the session's Logout ended the
// transaction.
func TestShutdownNoNoticeAfterLastReply(t *testing.T) {
	for _, c := range []struct{ name, cmd, want string }{
		{"521", "RCPT TO:<b@example.org>", "521 5.7.1 nope"},
		{"421", "RCPT TO:<b@example.org>", "421 4.7.0 go away"},
		{"quit", "QUIT", "221 2.0.0 Bye"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := reply.Reply{Code: 521, Enhanced: [3]int{5, 7, 1}, Text: "nope"}
			if c.name == "421" {
				r = reply.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "go away"}
			}
			h := start(t, func(o *Options) { o.Policy = &hookPolicy{hook: "rcpt", r: &r} })
			busy := h.dial()
			busy.ehlo()
			busy.envelope() // in a transaction: Shutdown waits for its end
			idle := h.dial()
			idle.ehlo()
			errc := shutdownAsync(h)
			idle.expect("421 4.3.2 Service shutting down, try again later")
			// Shutdown holds the server's lock while it tells every
			// session: once it is free, busy's has been told too.
			h.srv.mu.Lock()
			for sc := range h.srv.conns {
				sc.mu.Lock()
				if !sc.closing {
					t.Error("a session was not told of the shutdown")
				}
				sc.mu.Unlock()
			}
			h.srv.mu.Unlock()
			busy.cmd(c.cmd, c.want)
			busy.expectClosed()
			if err := <-errc; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}
