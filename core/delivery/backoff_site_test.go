package delivery

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
)

// A flush of one domain through the admin API (sluice queue flush
// --domain, Postfix's postqueue -s) tries that domain's mail at once,
// its destination's backoff forgotten, while another destination in
// backoff stays in it and its message keeps its schedule.
func TestFlushDomainForgetsOnlyItsBackoff(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
	)
	var refuse atomic.Bool
	refuse.Store(true)
	closing := func(string, int) error {
		if refuse.Load() {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "closing"}
		}
		return nil
	}
	one := h.sinkAt("127.0.0.2", sinkOptions{rcpt: closing})
	two := h.sinkAt("127.0.0.3", sinkOptions{rcpt: closing})
	h.opt.Routing.Backoff = time.Hour // a 421 starts it at once
	h.start()

	id1 := h.enqueue(msg("s@origin.test", "a@one.test"))
	if r := rcpt(h.recorded(id1), "a@one.test"); !strings.HasPrefix(r.LastReply, "421 ") {
		t.Fatalf("one.test's first attempt: %+v", r)
	}
	id2 := h.enqueue(msg("s@origin.test", "b@two.test"))
	if r := rcpt(h.recorded(id2), "b@two.test"); !strings.HasPrefix(r.LastReply, "421 ") {
		t.Fatalf("two.test's first attempt: %+v", r)
	}
	refuse.Store(false)
	before2, err := h.q.Get(id2)
	if err != nil {
		t.Fatal(err)
	}
	conns2 := two.connections()

	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: h.q.Store, ForgetSiteBackoff: h.agent.ForgetSiteBackoff,
		Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/queue/flush?domain=ONE.test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("flush --domain one.test: %s", resp.Status)
	}
	if got := waitMsg(t, one); len(got.rcpts) != 1 || got.rcpts[0] != "a@one.test" {
		t.Fatalf("one.test got %q", got.rcpts)
	}
	if after2, err := h.q.Get(id2); err != nil || !after2.NextAttempt.Equal(before2.NextAttempt) {
		t.Fatalf("two.test's message: next attempt %v (%v), want %v as before", after2.NextAttempt, err, before2.NextAttempt)
	}
	// two.test is still in backoff: a retry of its message is not sent.
	if err := h.q.Retry(id2); err != nil {
		t.Fatal(err)
	}
	h.agent.Kick()
	r := rcpt(h.recorded(id2), "b@two.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "421 ") || two.connections() != conns2 {
		t.Fatalf("two.test after one.test's flush: %+v after %d connections, want its backoff kept (%d)", r, two.connections(), conns2)
	}
}
