package delivery

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// An MX host that drops the connection after the final dot may have taken
// the message (RFC 1047): the recipient is deferred, as when no fallback
// relay is set, and never sent to the fallback relay, which would deliver
// it a second time.
func TestFallbackRelayNotAfterLostFinalReply(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4")
	mx := startScripted(t, net.JoinHostPort("127.0.0.4", strconv.Itoa(h.port)), "220 mx1.dest.test ESMTP", func(cmd string) string {
		if cmd == "." {
			return "drop"
		}
		return ""
	})
	fb := h.withFallback(sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "may be delivered more than once") ||
		strings.Contains(r.LastReply, "fallback_relay") {
		t.Errorf("%+v, want deferred with the MX's lost connection, not sent on", r)
	}
	if n := len(fb.messages()); n != 0 {
		t.Errorf("the fallback relay got %d messages after the MX may have taken it, want none", n)
	}
	if got := strings.Join(mx.commands(), " "); !strings.Contains(got, " .") {
		t.Errorf("the MX saw %q, want the data sent", got)
	}
}

// A destination in backoff sends its mail to the fallback relay at once,
// but still one delivery per rate_delay: the README says the domain's
// rate_delay covers the fallback, which is not paced on its own.
func TestFallbackRelayBackoffKeepsRateDelay(t *testing.T) {
	h := newHarness(t)
	h.opt.Routing.BackoffAfter = 1
	h.opt.Routing.Backoff = time.Hour
	h.opt.Config.RateDelay.Duration = 10 * time.Minute
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4")
	startDropper(t, net.JoinHostPort("127.0.0.4", strconv.Itoa(h.port)))
	fb := h.withFallback(sinkOptions{})
	h.start()
	t0 := h.clock.Now()
	first := h.enqueue(msg("s@origin.test", "a@dest.test"))
	waitMsg(t, fb)
	if r := rcpt(h.recorded(first), "a@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered by the fallback relay", r)
	}
	// The domain is in backoff now; the next message waits for its
	// rate_delay before it goes to the fallback relay.
	second := h.enqueue(msg("s@origin.test", "b@dest.test"))
	rec := h.recorded(second)
	if r := rcpt(rec, "b@dest.test"); r.Status != envelope.RcptPending || r.Attempts != 0 || r.LastReply != "" || rec.NextAttempt.After(t0.Add(10*time.Minute)) {
		t.Errorf("%+v next %v, want waiting for the domain's rate_delay", r, rec.NextAttempt)
	}
	if n := len(fb.messages()); n != 1 {
		t.Errorf("the fallback relay got %d messages within one rate_delay, want 1", n)
	}
	h.retryAfter(10 * time.Minute)
	waitMsg(t, fb)
	if r := rcpt(h.recorded(second), "b@dest.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("%+v, want delivered by the fallback relay after the rate_delay", r)
	}
}

// A fallback relay named as a bare host has a backoff of its own, not
// that of a recipient domain of the same name: the relay failing does
// not put the domain's own MX in backoff, nor the other way round.
func TestFallbackRelayBackoffNotTheDomains(t *testing.T) {
	h := newHarness(t)
	h.opt.Routing.BackoffAfter = 1
	h.opt.Routing.Backoff = time.Hour
	h.useDNS(nil,
		"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4",
		"backup.test. A 127.0.0.5", "backup.test. MX 10 mx.backup.test.", "mx.backup.test. A 127.0.0.6")
	fbDown := startDropper(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)))
	backupMX := h.sinkAt("127.0.0.6", sinkOptions{})
	h.opt.Config.FallbackRelay = []string{"backup.test"} // on [delivery] port
	h.start()
	first := h.recorded(h.enqueue(msg("s@origin.test", "a@dest.test")))
	if r := rcpt(first, "a@dest.test"); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "[fallback_relay, after dest.test: ") {
		t.Fatalf("%+v, want deferred by both", r)
	}
	// The fallback relay is in backoff; the domain backup.test is not.
	id := h.enqueue(msg("s@origin.test", "b@backup.test"))
	waitMsg(t, backupMX)
	if r := rcpt(h.recorded(id), "b@backup.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("%+v, want delivered by backup.test's own MX, not skipped in the fallback relay's backoff", r)
	}
	if n := fbDown.connections(); n != 1 {
		t.Errorf("the fallback relay was dialled %d times, want once", n)
	}
}

// An MX that deferred a recipient (a 4xx to RCPT) and a fallback relay
// that no server answered for: the reply is Sluice's own (no mail server
// could be reached …), so the recipient has no Remote-MTA; naming the MX
// would present that text in a report as the MX's SMTP reply (RFC 3464
// §2.3.5, §2.3.6).
func TestFallbackRelayUnreachedNoRemoteMTA(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.2")
	h.sinkAt("127.0.0.2", sinkOptions{rcpt: func(addr string, _ int) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "greylisted"}
	}})
	h.opt.Config.FallbackRelay = []string{net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port))} // nothing listens there
	h.start()
	r := rcpt(h.recorded(h.enqueue(msg("s@origin.test", "r@dest.test"))), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.1 ") ||
		!strings.Contains(r.LastReply, "after dest.test: 451 4.2.0 greylisted") {
		t.Fatalf("%+v, want deferred naming both hops", r)
	}
	if r.RemoteMTA != "" {
		t.Errorf("Remote-MTA %q for Sluice's own reply, want none", r.RemoteMTA)
	}
}
