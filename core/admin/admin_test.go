package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

func setup(t *testing.T, token string, opts ...func(*Options)) (*httptest.Server, *queue.Store, string) {
	t.Helper()
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org",
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	o := Options{Queue: q, NotFound: queue.ErrNotFound, Token: token,
		Conflicts: []error{queue.ErrNotHeld, queue.ErrNotActive}}
	for _, f := range opts {
		f(&o)
	}
	srv := httptest.NewServer(Handler(o))
	t.Cleanup(srv.Close)
	return srv, q, m.ID
}

func do(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestQueueListShowActions(t *testing.T) {
	srv, q, id := setup(t, "")
	code, body := do(t, "GET", srv.URL+"/api/queue", "")
	var list QueueList
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Messages) != 1 || list.Counts["active"] != 1 {
		t.Fatalf("list %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/queue/"+id, ""); code != 200 || !strings.Contains(body, `"b@example.net"`) {
		t.Fatalf("show %d %s", code, body)
	}
	if code, _ := do(t, "GET", srv.URL+"/api/queue/NOPE", ""); code != 404 {
		t.Fatalf("show unknown: %d", code)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/queue/"+id+"/hold", ""); code != 200 {
		t.Fatalf("hold %d", code)
	}
	if m, _ := q.Get(id); m.State != envelope.StateHeld {
		t.Fatalf("state after hold %s", m.State)
	}
	if code, body := do(t, "GET", srv.URL+"/api/queue?state=held", ""); code != 200 || !strings.Contains(body, id) {
		t.Fatalf("filter %d %s", code, body)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/queue/"+id+"/retry", ""); code != 409 {
		t.Fatalf("retry held: %d", code)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/queue/"+id+"/release", ""); code != 200 {
		t.Fatalf("release %d", code)
	}
	if code, body := do(t, "POST", srv.URL+"/api/queue/flush", ""); code != 200 || !strings.Contains(body, `"count": 1`) {
		t.Fatalf("flush %d %s", code, body)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/queue/"+id+"/frobnicate", ""); code != 404 {
		t.Fatalf("unknown action %d", code)
	}
	if code, _ := do(t, "GET", srv.URL+"/api/queue/"+id+"/hold", ""); code != 405 {
		t.Fatalf("GET on an action must not change state: %d", code)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/queue/"+id+"/delete", ""); code != 200 {
		t.Fatalf("delete %d", code)
	}
	if _, err := q.Get(id); err != queue.ErrNotFound {
		t.Fatalf("after delete %v", err)
	}
}

func TestMetricsAndDashboard(t *testing.T) {
	srv, _, _ := setup(t, "")
	code, body := do(t, "GET", srv.URL+"/metrics", "")
	if code != 200 || !strings.Contains(body, `sluice_queue_messages{state="active"} 1`) {
		t.Fatalf("metrics %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/", ""); code != 200 || !strings.Contains(body, "<title>Sluice</title>") {
		t.Fatalf("dashboard %d", code)
	}
}

func TestBearerToken(t *testing.T) {
	srv, _, _ := setup(t, "s3cret")
	if code, _ := do(t, "GET", srv.URL+"/api/queue", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := do(t, "GET", srv.URL+"/api/queue", "wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := do(t, "GET", srv.URL+"/api/queue", "s3cret"); code != 200 {
		t.Fatalf("token: %d", code)
	}
}

// A retry or a flush first has delivery forget its destinations' backoff
// (Options.ForgetBackoffs), so the next hops are tried now; the other
// actions do not.
func TestRetryAndFlushTellDelivery(t *testing.T) {
	var retried atomic.Int32
	srv, _, id := setup(t, "", func(o *Options) { o.ForgetBackoffs = func() { retried.Add(1) } })
	for _, step := range []struct {
		path string
		code int
		want int32
	}{
		{"/api/queue/" + id + "/retry", 200, 1},
		{"/api/queue/flush", 200, 2},
		{"/api/queue/" + id + "/hold", 200, 2},
		{"/api/queue/" + id + "/release", 200, 2},
		{"/api/queue/" + id + "/delete", 200, 2},
	} {
		if code, body := do(t, "POST", srv.URL+step.path, ""); code != step.code {
			t.Fatalf("POST %s: %d %s", step.path, code, body)
		}
		if n := retried.Load(); n != step.want {
			t.Fatalf("after POST %s: ForgetBackoffs ran %d times, want %d", step.path, n, step.want)
		}
	}
}

// What no endpoint serves gets a JSON error like every other one: 404 for
// an unknown path (or an empty id), 405 with Allow for a wrong method.
func TestUnknownRoutesAnswerJSON(t *testing.T) {
	srv, _, id := setup(t, "")
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/api/nothing", 404, ""},
		{"GET", "/index.html", 404, ""},
		{"POST", "/api/queue//hold", 404, ""},
		{"DELETE", "/api/queue/" + id, 405, "GET, HEAD"},
		{"POST", "/api/pipeline", 405, "GET, HEAD"},
		{"PUT", "/api/queue/flush", 405, "POST"},
		{"GET", "/api/queue/flush", 405, "POST"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body ErrorBody
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || err != nil || body.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %q (%v), want %d and a JSON error", tc.method, tc.path, resp.StatusCode, body.Error, err, tc.code)
		}
		if tc.allow != "" && resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, resp.Header.Get("Allow"), tc.allow)
		}
	}
}

// GET /api/queue/flush is not a message named "flush": flush is POST only.
// An after that is no message ID is refused like a bad limit or state,
// rather than listing from wherever it sorts.
func TestQueueRouteErrors(t *testing.T) {
	srv, _, _ := setup(t, "")
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/api/queue/flush", 405, `{"error":"GET is not allowed on /api/queue/flush (allowed: POST)"}`},
		{"GET", "/api/queue?after=zz", 400, `{"error":"after: \"zz\" is not a message ID: want 20 characters of 0-9 and A-Z without I, L, O, U, as ` + "`sluice queue list`" + ` shows them"}`},
		{"GET", "/api/queue?limit=0", 400, `{"error":"limit must be a positive number"}`},
	} {
		code, body := do(t, tc.method, srv.URL+tc.path, "")
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(body)); err != nil || code != tc.code || compact.String() != tc.body {
			t.Errorf("%s %s: %d %s\nwant %d %s", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
}

// An answer that is not the admin API's JSON (the address is some other
// web server's) is one line naming the address and the status, not the
// HTML page it sent, nor a JSON syntax error.
func TestClientNonJSONAnswer(t *testing.T) {
	html := "<!DOCTYPE html>\n<html>\n<body>\n<h1>Not here</h1>\n</body>\n</html>\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path != "/api/queue" {
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = io.WriteString(w, html)
	}))
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, "")
	for path, want := range map[string]string{
		"/api/queue":       "admin API at " + srv.URL + " answered 200 OK, not JSON: is this Sluice's admin address?",
		"/api/queue/other": "admin API at " + srv.URL + " answered 404 Not Found, not JSON: is this Sluice's admin address?",
	} {
		var out QueueList
		if err := c.Do("GET", path, &out, nil); err == nil || err.Error() != want {
			t.Errorf("GET %s: %v\nwant %s", path, err, want)
		}
	}
	if err := c.Do("POST", "/api/reload", nil, nil); err == nil || !strings.Contains(err.Error(), "answered 404 Not Found, not JSON") {
		t.Errorf("POST /api/reload: %v", err)
	}
}

// An action on a queue that is closing (the daemon drains) is 503, not a
// 409 that would blame the message's state.
func TestQueueClosedIs503(t *testing.T) {
	srv, q, id := setup(t, "", func(o *Options) { o.Closed = queue.ErrClosed })
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, "POST", srv.URL+"/api/queue/"+id+"/hold", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "closed") {
		t.Fatalf("hold on a closed queue: %d %s, want 503", code, body)
	}
}

// holdFails is a queue whose writes fail, as Pebble's do on a broken disk:
// a fault a real store cannot be made to show on demand.
type holdFails struct {
	Queue
	err error
}

func (h holdFails) Hold(string) error { return h.err }

// A storage failure is the server's error (500), not a 409 that would
// blame the message's state; a state that refuses the action stays 409.
func TestStorageErrorIs500(t *testing.T) {
	disk := errors.New("pebble: write /var/spool/sluice/000012.log: input/output error")
	srv, q, id := setup(t, "", func(o *Options) { o.Queue = holdFails{Queue: o.Queue, err: disk} })
	if code, body := do(t, "POST", srv.URL+"/api/queue/"+id+"/hold", ""); code != http.StatusInternalServerError || !strings.Contains(body, "input/output error") {
		t.Fatalf("hold on a failing disk: %d %s, want 500", code, body)
	}
	if code, body := do(t, "POST", srv.URL+"/api/queue/"+id+"/release", ""); code != http.StatusConflict || !strings.Contains(body, "not held") {
		t.Fatalf("release of an active message: %d %s, want 409", code, body)
	}
	if err := q.Hold(id); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, "POST", srv.URL+"/api/queue/"+id+"/retry", ""); code != http.StatusConflict || !strings.Contains(body, "release it first") {
		t.Fatalf("retry of a held message: %d %s, want 409", code, body)
	}
}
