package smtpd

import (
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The LIMITS text is written once for the limits in force, not at each
// EHLO of every session, and a reload's limits get their own. go-smtp's
// server is swapped for one (setSMTP, as SetLimits does) whose Limits
// hook hands the test the session's connection.
func TestAdvertisedLimitsAllocateNothing(t *testing.T) {
	h := start(t)
	h.srv.mu.Lock()
	l := h.srv.listeners[0]
	h.srv.mu.Unlock()
	srv := l.newSMTP(h.srv.lim())
	conns := make(chan *smtp.Conn, 1)
	srv.Limits = func(sc *smtp.Conn) string {
		select {
		case conns <- sc:
		default:
		}
		return h.srv.advertisedLimits(sc)
	}
	l.setSMTP(srv)
	d := h.dial()
	d.ehlo()
	var sc *smtp.Conn
	select {
	case sc = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("no EHLO asked for LIMITS")
	}
	want := "RCPTMAX=" + strconv.Itoa(h.srv.lim().MaxRecipients) + " MAILMAX=" + strconv.Itoa(h.srv.lim().MaxMessagesPerConnection)
	if got := h.srv.advertisedLimits(sc); got != want {
		t.Fatalf("LIMITS %q, want %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { h.srv.advertisedLimits(sc) }); n != 0 {
		t.Errorf("%v allocations an EHLO, want 0", n)
	}
	next := *h.cfg
	next.Limits.MaxRecipients = 7
	h.srv.SetLimits(&next)
	if got, want := h.srv.advertisedLimits(sc), "RCPTMAX=7 MAILMAX="+strconv.Itoa(next.Limits.MaxMessagesPerConnection); got != want {
		t.Errorf("after a reload: LIMITS %q, want %q", got, want)
	}
	d.cmd("QUIT", "221 2.0.0 Bye")
}
