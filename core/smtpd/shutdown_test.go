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
