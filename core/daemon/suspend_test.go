package daemon

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// rcptOf returns m's recipient addr.
func rcptOf(t *testing.T, m *envelope.Message, addr string) envelope.Recipient {
	t.Helper()
	for _, r := range m.Rcpts {
		if r.Addr == addr {
			return r
		}
	}
	t.Fatalf("message %s has no recipient %s", m.ID, addr)
	return envelope.Recipient{}
}

// adminDo sends a request to d's admin API and returns its status and body.
func adminDo(t *testing.T, d *Daemon, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.AdminAddr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Delivery to a suspended domain makes no attempt: the recipient in it
// stays pending with no attempt counted while the other domain's is
// delivered; the suspension survives a restart, resume sends its mail at
// once, and one given a length runs out by the (injected) clock.
func TestSuspendDomain(t *testing.T) {
	port := freePort(t)
	sinkD := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	sinkE := testlib.NewSink(t, fmt.Sprintf("127.0.0.3:%d", port))
	dns := testlib.NewDNS(t,
		"d.test. 60 IN MX 10 mx.d.test.", "mx.d.test. 60 IN A 127.0.0.2",
		"e.test. 60 IN MX 10 mx.e.test.", "mx.e.test. 60 IN A 127.0.0.3",
	)
	dataDir := filepath.Join(t.TempDir(), "data")
	src := fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[dns]
servers = [%q]
[delivery]
port = %d
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
`, dataDir, dns.Addr, port)
	clock := &fakeClock{now: time.Now()}
	start := func() *Daemon {
		t.Helper()
		d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), DrainTimeout: 5 * time.Second, Clock: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Stop() })
		return d
	}
	d := start()
	cl := func() *admin.Client { return admin.NewClient(d.AdminAddr().String(), "") }
	send := func(rcpts ...string) string {
		t.Helper()
		res, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", rcpts,
			testlib.Message("alice@sluice.test", rcpts[0], "suspend", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		return chaosQueued(res)
	}

	// The API's refusals.
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/queue/suspend?domain=d.test", http.StatusMethodNotAllowed},
		{"GET", "/api/queue/resume?domain=d.test", http.StatusMethodNotAllowed},
		{"POST", "/api/queue/suspended", http.StatusMethodNotAllowed},
		{"POST", "/api/queue/suspend", http.StatusBadRequest},
		{"POST", "/api/queue/suspend?domain=bob@d.test", http.StatusBadRequest},
		{"POST", "/api/queue/suspend?domain=-bad-", http.StatusBadRequest},
		{"POST", "/api/queue/suspend?domain=d.test&for=soon", http.StatusBadRequest},
		{"POST", "/api/queue/suspend?domain=d.test&for=0s", http.StatusBadRequest},
		{"POST", "/api/queue/suspend?domain=d.test&reason=a%0Ab", http.StatusBadRequest},
		{"POST", "/api/queue/resume?domain=", http.StatusBadRequest},
		{"POST", "/api/queue/resume?domain=d.test", http.StatusNotFound},
	} {
		if code, body := adminDo(t, d, c.method, c.path); code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.code)
		}
	}
	if l, _, err := cl().Suspended(); err != nil || len(l.Suspended) != 0 {
		t.Fatalf("nothing suspended yet: %+v %v", l, err)
	}

	// Spelled otherwise than the recipient: one site all the same.
	r, _, err := cl().Suspend("D.Test.", 0, "provider throttling")
	if err != nil || r.Domain != "d.test" || !r.Until.IsZero() || r.Reason != "provider throttling" {
		t.Fatalf("suspend: %+v %v", r, err)
	}
	if code, body := adminDo(t, d, "GET", "/metrics"); code != 200 || !strings.Contains(body, "\nsluice_delivery_suspended_domains 1\n") {
		t.Errorf("metrics with one domain suspended: %d, want sluice_delivery_suspended_domains 1", code)
	}
	id := send("bob@d.test", "carol@e.test")
	sinkE.WaitN(t, 1, 10*time.Second)
	m := waitMessage(t, d, id, "carol@e.test delivered, bob@d.test not tried", func(m *envelope.Message) bool {
		return len(m.Pending()) == 1 && strings.Contains(m.Pending()[0].LastReply, "suspended")
	})
	if b := rcptOf(t, m, "bob@d.test"); b.Attempts != 0 || sinkD.Conns() != 0 {
		t.Fatalf("bob@d.test while d.test is suspended: %d attempts, %d connections to its MX; want none", b.Attempts, sinkD.Conns())
	}
	if m.Attempts != 1 {
		t.Errorf("message attempts %d, want 1 (e.test's)", m.Attempts)
	}

	// A restart keeps the suspension; a flush tries the message again,
	// and still not bob@d.test.
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	d = start()
	if l, _, err := cl().Suspended(); err != nil || len(l.Suspended) != 1 || l.Suspended[0].Domain != "d.test" || l.Suspended[0].Reason != "provider throttling" {
		t.Fatalf("suspended after a restart: %+v %v", l, err)
	}
	before := m.NextAttempt
	if code, body := adminDo(t, d, "POST", "/api/queue/flush"); code != 200 {
		t.Fatalf("flush: %d %s", code, body)
	}
	m = waitMessage(t, d, id, "tried again after the flush", func(m *envelope.Message) bool {
		// The flush made it due now; the attempt set its next one.
		return !m.NextAttempt.Equal(before) && m.NextAttempt.After(time.Now())
	})
	if b := rcptOf(t, m, "bob@d.test"); b.Attempts != 0 || b.Status != envelope.RcptPending || sinkD.Conns() != 0 {
		t.Fatalf("bob@d.test after a restart: %+v, %d connections; want pending, not tried", b, sinkD.Conns())
	}

	// Resume: due at once, though its next attempt is minutes away.
	if _, err := cl().Resume("d.test"); err != nil {
		t.Fatal(err)
	}
	sinkD.WaitN(t, 1, 10*time.Second)
	waitEmpty(t, d)
	if l, _, err := cl().Suspended(); err != nil || len(l.Suspended) != 0 {
		t.Fatalf("after resume: %+v %v", l, err)
	}

	// For an hour: it runs out by the clock, and its mail goes at once.
	if r, _, err := cl().Suspend("e.test", time.Hour, ""); err != nil || !r.Until.Equal(clock.Now().Add(time.Hour).UTC()) {
		t.Fatalf("suspend for 1h: %+v %v", r, err)
	}
	id = send("dave@e.test")
	waitMessage(t, d, id, "dave@e.test not tried", func(m *envelope.Message) bool {
		return strings.Contains(m.Pending()[0].LastReply, "suspended")
	})
	d.suspended.Expire() // not yet
	if l, _, err := cl().Suspended(); err != nil || len(l.Suspended) != 1 {
		t.Fatalf("before its end: %+v %v", l, err)
	}
	clock.Add(time.Hour)
	d.suspended.Expire() // as Run does when the time comes
	sinkE.WaitN(t, 2, 10*time.Second)
	waitEmpty(t, d)
	if l, _, err := cl().Suspended(); err != nil || len(l.Suspended) != 0 {
		t.Fatalf("after its end: %+v %v", l, err)
	}
	if code, body := adminDo(t, d, "GET", "/metrics"); code != 200 || !strings.Contains(body, "\nsluice_delivery_suspended_domains 0\n") {
		t.Errorf("metrics with nothing suspended: %d, want sluice_delivery_suspended_domains 0", code)
	}
}
