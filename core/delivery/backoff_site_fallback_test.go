package delivery

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
)

// A flush of one domain whose own hosts are down forgets the backoff of
// the fallback relay its mail goes on to as well: an operator who
// flushes after the fallback relay came back wants the mail sent, not
// skipped as "[fallback_relay … in backoff]" until that backoff ends.
func TestFlushDomainForgetsFallbackBackoff(t *testing.T) {
	h := newHarness(t)
	h.opt.Routing.BackoffAfter = 1
	h.opt.Routing.Backoff = time.Hour
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.4") // nothing listens there
	var refuse atomic.Bool
	refuse.Store(true)
	fb := h.sinkAt("127.0.0.5", sinkOptions{rcpt: func(string, int) error {
		if refuse.Load() {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "closing"}
		}
		return nil
	}})
	h.opt.Config.FallbackRelay = []string{net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port))}
	h.start()

	id := h.enqueue(msg("s@origin.test", "a@one.test"))
	if r := rcpt(h.recorded(id), "a@one.test"); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "[fallback_relay, after one.test: ") {
		t.Fatalf("first attempt: %+v, want deferred by the fallback relay too", r)
	}
	refuse.Store(false)

	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: h.q.Store, ForgetSiteBackoff: h.agent.ForgetSiteBackoff,
		Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/queue/flush?domain=one.test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("flush --domain one.test: %s", resp.Status)
	}
	if r := rcpt(h.recorded(id), "a@one.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("after the flush: %+v, want delivered by the fallback relay", r)
	}
	if got := waitMsg(t, fb); len(got.rcpts) != 1 || got.rcpts[0] != "a@one.test" {
		t.Fatalf("fallback relay got %q", got.rcpts)
	}
}
