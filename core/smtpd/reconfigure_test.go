package smtpd

import (
	"net"
	"slices"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// SetListeners keeps an unchanged listener (and its sessions) untouched,
// binds a new one, and stops a removed one: it refuses new connections at
// once, ends its idle sessions, and lets a session in DATA finish its
// message first.
func TestSetListeners(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{Name: "old", Listen: "127.0.0.1:0", Kind: config.KindSMTP})
	})
	mxAddr, oldAddr := h.addr("mx"), h.addr("old")
	kept := h.dial()
	kept.ehlo()
	busy := dialConn(t, oldAddr)
	busy.expect("220 mx.test ESMTP")
	busy.ehlo()
	busy.envelope("b@example.org")
	busy.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	busy.raw("Subject: in flight\r\n\r\npart one\r\n")
	idle := dialConn(t, oldAddr)
	idle.expect("220 mx.test ESMTP")
	idle.ehlo()

	mx := h.cfg.Listeners[0]
	ch, err := h.srv.SetListeners([]config.Listener{
		mx, {Name: "new", Listen: "127.0.0.1:0", Kind: config.KindSMTP},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Added, []string{"new"}) || !slices.Equal(ch.Removed, []string{"old"}) {
		t.Fatalf("changes %+v", ch)
	}
	if h.addr("mx") != mxAddr {
		t.Fatalf("unchanged listener rebound: %s, was %s", h.addr("mx"), mxAddr)
	}
	if _, ok := h.srv.Addrs()["old"]; ok {
		t.Fatal("removed listener still listed")
	}
	if c, err := net.Dial("tcp", oldAddr); err == nil {
		c.Close()
		t.Fatal("the removed listener still accepts")
	}
	idle.expect("421 4.3.2 Service shutting down, try again later")
	idle.expectClosed()

	// The session in DATA finishes its message, then is closed.
	busy.raw("part two\r\n.\r\n")
	busy.queued()
	busy.expect("421 4.3.2 Service shutting down, try again later")
	busy.expectClosed()

	// The unchanged listener's session goes on; the new listener serves.
	kept.envelope("b@example.org")
	kept.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	kept.raw("Subject: kept\r\n\r\nhi\r\n.\r\n")
	kept.queued()
	fresh := dialConn(t, h.addr("new"))
	fresh.expect("220 mx.test ESMTP")
	fresh.ehlo()
	fresh.envelope("b@example.org")
	fresh.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	fresh.raw("Subject: new\r\n\r\nhi\r\n.\r\n")
	fresh.queued()
	if n := len(h.messages()); n != 3 {
		t.Fatalf("queue holds %d messages, want 3", n)
	}
}

// A listener that cannot be bound refuses the whole change: the running
// listeners stay as they were.
func TestSetListenersBindFailureChangesNothing(t *testing.T) {
	h := start(t)
	mxAddr := h.addr("mx")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = h.srv.SetListeners([]config.Listener{{Name: "other", Listen: busy.Addr().String(), Kind: config.KindSMTP}})
	if err == nil {
		t.Fatal("bind on a busy address succeeded")
	}
	if h.addr("mx") != mxAddr || len(h.srv.Addrs()) != 1 {
		t.Fatalf("listeners changed: %v", h.srv.Addrs())
	}
	d := h.dial()
	d.ehlo()
}

// A listener whose kind changes on the same address is replaced: the old
// socket closes first, then the address is bound again.
func TestSetListenersSameAddressChanged(t *testing.T) {
	h := start(t)
	lc := h.cfg.Listeners[0]
	lc.Listen = h.addr("mx")
	if _, err := h.srv.SetListeners([]config.Listener{lc}); err != nil { // pins the port
		t.Fatal(err)
	}
	lc.Kind = config.KindSubmission
	ch, err := h.srv.SetListeners([]config.Listener{lc})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Added, []string{"mx"}) || !slices.Equal(ch.Removed, []string{"mx"}) {
		t.Fatalf("changes %+v", ch)
	}
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.0 Authentication required")
}
