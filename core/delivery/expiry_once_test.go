package delivery

import (
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A message whose recipients are in different states when max_age passes
// gets one report per failure: the recipient refused at once in the
// first, the one still deferred (5.4.7) in the second, and none for the
// one delivered, which the second attempt does not send again.
func TestExpiryReportsEachRecipientOnce(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
		"origin.test. MX 10 mx.origin.test.", "mx.origin.test. A 127.0.0.5",
	)
	h.sinkAt("127.0.0.2", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "late@one.test" {
			return tempFail(n)
		}
		return reject550("bad@one.test")(addr, n)
	}})
	two := h.sinkAt("127.0.0.3", sinkOptions{})
	origin := h.sinkAt("127.0.0.5", sinkOptions{})
	h.opt.Config.MaxAge.Duration = time.Hour
	h.start()
	id := h.enqueue(msg("s@origin.test", "late@one.test", "ok@two.test", "bad@one.test"))
	waitMsg(t, two)
	m := h.recorded(id)
	if r := rcpt(m, "late@one.test"); r.Status != envelope.RcptPending {
		t.Fatalf("late@one.test after the first attempt: %+v", r)
	}
	first := waitReport(t, origin)
	if len(first.rcpts) != 1 || first.rcpts[0].Get("Final-Recipient") != "rfc822; bad@one.test" {
		t.Fatalf("first report: %d blocks, first %v", len(first.rcpts), first.rcpts[0].Map())
	}
	h.retryAfter(2 * time.Hour)
	h.recorded(id)
	second := waitReport(t, origin)
	if len(second.rcpts) != 1 || second.rcpts[0].Get("Final-Recipient") != "rfc822; late@one.test" || second.rcpts[0].Get("Status") != "5.4.7" {
		t.Fatalf("second report: %d blocks, first %v", len(second.rcpts), second.rcpts[0].Map())
	}
	if !h.gone(id) {
		t.Fatal("the expired message is still queued")
	}
	if got := len(two.messages()); got != 1 {
		t.Errorf("two.test got the message %d times, want once", got)
	}
}
