package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// The embedded default config binds the admin API to loopback only.
func TestDefaultAdminListenIsLoopback(t *testing.T) {
	c := config.Default()
	if c.Admin.Listen != "127.0.0.1:8025" || !IsLoopback(c.Admin.Listen) {
		t.Fatalf("default admin listen %q: want 127.0.0.1:8025, loopback", c.Admin.Listen)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:8025": true, "[::1]:8025": true, "localhost:8025": true, "127.0.0.2:1": true,
		"0.0.0.0:8025": false, ":8025": false, "[::]:8025": false, "192.0.2.1:8025": false, "mx.example.org:8025": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

// Every state change is a POST: GET, HEAD or PUT on an action or flush
// changes nothing.
func TestStateChangesArePOSTOnly(t *testing.T) {
	srv, q, id := setup(t, "")
	for _, method := range []string{"GET", "HEAD", "PUT", "DELETE"} {
		for _, path := range []string{"/api/queue/" + id + "/hold", "/api/queue/" + id + "/delete", "/api/queue/flush"} {
			code, _ := do(t, method, srv.URL+path, "")
			// GET /api/queue/flush is a lookup of a message named "flush".
			if code != http.StatusMethodNotAllowed && !(path == "/api/queue/flush" && code == http.StatusNotFound) {
				t.Errorf("%s %s: %d, want 405", method, path, code)
			}
		}
	}
	if m, err := q.Get(id); err != nil || m.State != envelope.StateActive {
		t.Fatalf("state changed by a non-POST: %v %v", m, err)
	}
}

// With a token, the static dashboard page loads without it (it is where the
// token is pasted); the data behind it, and /metrics, do not.
func TestTokenSparesOnlyThePage(t *testing.T) {
	srv, _, id := setup(t, "s3cret")
	if code, body := do(t, "GET", srv.URL+"/", ""); code != 200 || !strings.Contains(body, "<title>Sluice</title>") {
		t.Fatalf("dashboard without token: %d", code)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/metrics"}, {"GET", "/api/pipeline"}, {"GET", "/api/queue/" + id}, {"POST", "/api/queue/" + id + "/hold"},
		{"GET", "/api/trace/" + id}, {"GET", "/index.html"},
	} {
		if code, _ := do(t, c.method, srv.URL+c.path, ""); code != 401 {
			t.Errorf("%s %s without token: %d, want 401", c.method, c.path, code)
		}
	}
}

func request(t *testing.T, method, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A web page on another origin cannot fire actions at the loopback API
// (a "simple" cross-site POST that CORS would let through), and a page that
// rebinds its own name to 127.0.0.1 cannot read it.
func TestBrowserAttacksRefused(t *testing.T) {
	srv, q, id := setup(t, "")
	hold := srv.URL + "/api/queue/" + id + "/hold"
	if code, body := request(t, "POST", hold, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); code != 403 {
		t.Fatalf("cross-site POST: %d %s", code, body)
	}
	if code, _ := request(t, "POST", hold, map[string]string{"Origin": "https://evil.example"}); code != 403 {
		t.Fatalf("cross-origin POST (Origin only): %d", code)
	}
	if m, _ := q.Get(id); m.State != envelope.StateActive {
		t.Fatalf("a cross-site POST changed the state to %s", m.State)
	}
	if code, body := request(t, "GET", srv.URL+"/api/queue", map[string]string{"Host": "evil.example:8025"}); code != 403 || strings.Contains(body, id) {
		t.Fatalf("rebound Host: %d %s", code, body)
	}
	// Same-origin browser requests, the CLI (no such headers) and plain
	// addresses or localhost as Host all work.
	if code, _ := request(t, "POST", hold, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL}); code != 200 {
		t.Fatalf("same-origin POST: %d", code)
	}
	for _, host := range []string{strings.TrimPrefix(srv.URL, "http://"), "localhost:8025", "[::1]:8025"} {
		if code, _ := request(t, "GET", srv.URL+"/api/queue", map[string]string{"Host": host}); code != 200 {
			t.Errorf("Host %s: %d", host, code)
		}
	}
}

// Options.Metrics replaces the hand-written exposition.
func TestMetricsHandlerOption(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	prom := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "sluice_from_registry 1\n") })
	srv := httptest.NewServer(Handler(Options{Queue: q, Metrics: prom}))
	defer srv.Close()
	if code, body := do(t, "GET", srv.URL+"/metrics", ""); code != 200 || body != "sluice_from_registry 1\n" {
		t.Fatalf("metrics %d %q", code, body)
	}
}

// GET /api/queue carries what the dashboard's summary shows: counts by
// state, messages per destination domain with a pending recipient, and the
// oldest message's age.
func TestQueueListSummary(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	add := func(age time.Duration, rcpts ...envelope.Recipient) {
		m := &envelope.Message{ID: q.NewID(), From: "a@example.org", Received: now.Add(-age), Rcpts: rcpts}
		if err := q.Enqueue(m, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	pending := func(a string) envelope.Recipient { return envelope.Recipient{Addr: a, Status: envelope.RcptPending} }
	// Ids are time-ordered, so the oldest message is queued first.
	add(3*time.Hour, pending("w@example.com"), envelope.Recipient{Addr: "v@done.example", Status: envelope.RcptDelivered})
	add(time.Minute, pending("x@Example.NET"), pending("y@example.net"), pending("z@example.com"))
	srv := httptest.NewServer(Handler(Options{Queue: q, Clock: func() time.Time { return now }}))
	defer srv.Close()
	code, body := do(t, "GET", srv.URL+"/api/queue", "")
	var list QueueList
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if list.Counts["active"] != 2 || list.OldestAge != (3*time.Hour).Seconds() {
		t.Fatalf("counts %v oldest %v", list.Counts, list.OldestAge)
	}
	if len(list.Domains) != 2 || list.Domains["example.net"] != 1 || list.Domains["example.com"] != 2 {
		t.Fatalf("domains %v", list.Domains)
	}
}
