package delivery

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Under soft_bounce a 5xx from the next hop, a domain with no mail host
// and a recipient without a domain defer the recipient instead of failing
// it: no report is queued, the reply stays LastReply, the log says
// soft_bounce kept it (each of them), and it is
// tried again on the schedule, past max_age too (Postfix's bounce_flush
// returns nothing under soft_bounce).
func TestSoftBounceDefers(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"origin.test. MX 10 mx.origin.test.", "mx.origin.test. A 127.0.0.5",
	)
	one := h.sinkAt("127.0.0.2", sinkOptions{rcpt: reject550("bad@one.test")})
	h.sinkAt("127.0.0.5", sinkOptions{})
	logs := &lockedBuffer{}
	h.opt.Logger = slog.New(slog.NewTextHandler(logs, nil))
	h.opt.Config.MaxAge.Duration = time.Hour
	h.opt.SoftBounce = true
	h.start()
	id := h.enqueue(msg("s@origin.test", "ok@one.test", "bad@one.test", "e@nohost.test", "nodomain"))
	waitMsg(t, one)
	m := h.recorded(id)
	if r := rcpt(m, "nodomain"); r.Status != envelope.RcptPending {
		t.Errorf("nodomain: %+v, want pending", r)
	}
	check := func(m *envelope.Message, attempts int) {
		t.Helper()
		if r := rcpt(m, "bad@one.test"); r.Status != envelope.RcptPending || r.LastReply != "550 5.1.1 no such user" || r.Attempts != attempts {
			t.Errorf("bad@one.test: %+v, want pending with the 550 after %d attempts", r, attempts)
		}
		if r := rcpt(m, "e@nohost.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "550 5.1.2 ") {
			t.Errorf("e@nohost.test: %+v, want pending with the 550 5.1.2", r)
		}
		if h.gone(id) {
			t.Fatal("the message left the queue")
		}
		all, err := h.q.List(10)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 {
			t.Errorf("%d messages queued, want the one (no report)", len(all))
		}
	}
	check(m, 1)
	if r := rcpt(m, "ok@one.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("ok@one.test: %+v", r)
	}
	if !m.NextAttempt.After(h.clock.Now()) {
		t.Errorf("next attempt %v, want on the retry schedule", m.NextAttempt)
	}
	l := logs.String()
	for _, want := range []string{`result=mixed reply="550 5.1.1 no such user" tls="" mta_sts="" soft_bounce=[bad@one.test]`, `result=deferred reply="550 5.1.2 `, `soft_bounce=[e@nohost.test]`,
		`msg="delivery: deferred by soft_bounce" id=` + id + ` rcpt=nodomain reply="5`} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s:\n%s", want, l)
		}
	}
	// Past max_age the recipients are tried again, not expired.
	h.retryAfter(2 * time.Hour)
	check(h.recorded(id), 2)
	if l := logs.String(); !strings.Contains(l, "kept queued by soft_bounce") {
		t.Errorf("log lacks the kept expiry:\n%s", l)
	}
}

// Once soft_bounce is off again (a reload makes a new agent), what it
// kept fails at the next attempt: the recipient refused for good gets its
// report, and the one still deferred past max_age expires (5.4.7).
func TestSoftBounceOffAgain(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"origin.test. MX 10 mx.origin.test.", "mx.origin.test. A 127.0.0.5",
	)
	h.sinkAt("127.0.0.2", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "late@one.test" {
			return tempFail(n)
		}
		return reject550("bad@one.test")(addr, n)
	}})
	origin := h.sinkAt("127.0.0.5", sinkOptions{})
	h.opt.Config.MaxAge.Duration = time.Hour
	soft := h.opt
	soft.SoftBounce = true
	a := New(h.q, soft)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	id := h.enqueue(msg("s@origin.test", "late@one.test", "bad@one.test"))
	if r := rcpt(h.recorded(id), "bad@one.test"); r.Status != envelope.RcptPending {
		t.Fatalf("bad@one.test under soft_bounce: %+v, want pending", r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the soft_bounce agent did not stop")
	}

	h.start() // soft_bounce off
	h.retryAfter(2 * time.Hour)
	h.recorded(id)
	rep := waitReport(t, origin)
	got := map[string]string{}
	for _, r := range rep.rcpts {
		got[r.Get("Final-Recipient")] = r.Get("Status")
	}
	if len(got) != 2 || got["rfc822; bad@one.test"] != "5.1.1" || got["rfc822; late@one.test"] != "5.4.7" {
		t.Fatalf("report: %v, want bad@one.test 5.1.1 and late@one.test 5.4.7", got)
	}
	if !h.gone(id) {
		t.Fatal("the message is still queued")
	}
}
