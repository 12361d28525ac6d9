package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Mail from the null sender expires after bounce_max_age (Postfix's
// bounce_queue_lifetime), other mail after max_age.
func TestBounceMaxAge(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(_ string, n int) error { return tempFail(n) }})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = 48 * time.Hour
	h.opt.Config.BounceMaxAge.Duration = time.Hour
	h.start()
	report := h.enqueue(msg("", "r@dest.test"))
	if r := rcpt(h.recorded(report), "r@dest.test"); r.Status != envelope.RcptPending {
		t.Fatalf("report, first attempt: %+v", r)
	}
	mail := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if r := rcpt(h.recorded(mail), "r@dest.test"); r.Status != envelope.RcptPending {
		t.Fatalf("mail, first attempt: %+v", r)
	}
	h.retryAfter(2 * time.Hour)
	if r := rcpt(h.recorded(report), "r@dest.test"); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "554 5.4.7 ") {
		t.Fatalf("report after bounce_max_age: %+v", r)
	}
	if r := rcpt(h.recorded(mail), "r@dest.test"); r.Status != envelope.RcptPending {
		t.Fatalf("mail after bounce_max_age, within max_age: %+v", r)
	}
	if !h.gone(report) || h.gone(mail) {
		t.Errorf("report gone %v, mail gone %v; want the report alone gone", h.gone(report), h.gone(mail))
	}
}
