package admin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// Every answer, the dashboard, the JSON and the errors alike, carries the
// headers that keep a browser from sniffing it into HTML, framing it,
// caching it or handing it to another site; the dashboard's CSP allows
// its own inline script by hash and nothing else.
func TestBrowserSecurityHeaders(t *testing.T) {
	srv, _, id := setup(t, "")
	for _, path := range []string{"/", "/api/queue", "/api/queue/" + id, "/api/nope", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
			"Cross-Origin-Resource-Policy": "same-origin", "Referrer-Policy": "no-referrer",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", path, k, got, want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.HasPrefix(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(csp, "connect-src 'self'") || resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" {
		t.Fatalf("dashboard CSP %q", csp)
	}
	if inlineHash([]byte("<p>no script</p>"), "script") != "'none'" {
		t.Fatal("a page without a script must allow none")
	}
	// The hash of "alert(1)" as CSP Level 3 section 8.3 computes it.
	if got := inlineHash([]byte("<script>alert(1)</script>"), "script"); got != "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='" {
		t.Fatalf("inlineHash: %s", got)
	}
}

// inOn serves one request to h as if it had reached a socket bound to
// local, with the given Host.
func inOn(h http.Handler, local net.Addr, method, host, path, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://"+host+path, nil)
	r.Host = host
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Without a token, a page that resolves its own name to the admin API's
// LAN address is same-origin to the browser, so the cross-site check
// cannot stop it: a request naming a host name is refused on any address,
// not only on loopback. With a token there, the name is served (that
// page has no token to send), and the address itself always is.
func TestRebindingRefusedBeyondLoopbackWithoutToken(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org",
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	lan := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8025}
	open := Handler(Options{Queue: q, NotFound: queue.ErrNotFound})
	hold := "/api/queue/" + m.ID + "/hold"
	// The rebinding page's POST is same-origin: Origin and Host agree.
	r := httptest.NewRequest("POST", "http://evil.example:8025"+hold, nil)
	r.Header.Set("Origin", "http://evil.example:8025")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(lan)))
	w := httptest.NewRecorder()
	open.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("rebound POST on a LAN address without token: %d %s", w.Code, w.Body)
	}
	if got, _ := q.Get(m.ID); got.State != envelope.StateActive {
		t.Fatalf("a rebound POST changed the state to %s", got.State)
	}
	if w := inOn(open, lan, "GET", "evil.example:8025", "/api/queue", ""); w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), m.ID) {
		t.Fatalf("rebound GET on a LAN address without token: %d %s", w.Code, w.Body)
	}
	if w := inOn(open, lan, "GET", "192.0.2.10:8025", "/api/queue", ""); w.Code != http.StatusOK {
		t.Fatalf("the LAN address itself: %d %s", w.Code, w.Body)
	}
	tokened := Handler(Options{Queue: q, NotFound: queue.ErrNotFound, Token: "s3cret"})
	if w := inOn(tokened, lan, "GET", "admin.example.org:8025", "/api/queue", "Bearer s3cret"); w.Code != http.StatusOK {
		t.Fatalf("a host name with the token, beyond loopback: %d %s", w.Code, w.Body)
	}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8025}
	if w := inOn(tokened, loop, "GET", "evil.example:8025", "/api/queue", "Bearer s3cret"); w.Code != http.StatusForbidden {
		t.Fatalf("a host name on loopback, even with the token: %d", w.Code)
	}
}

// The bearer scheme is case-insensitive (RFC 9110 section 11.1), and a
// refusal names the scheme in WWW-Authenticate (RFC 6750 section 3).
func TestBearerSchemeAndChallenge(t *testing.T) {
	srv, _, _ := setup(t, "s3cret")
	for auth, want := range map[string]int{
		"Bearer s3cret": 200, "bearer s3cret": 200, "BEARER  s3cret": 200,
		"": 401, "Bearer": 401, "Bearer s3cre": 401, "Bearer s3cret2": 401, "Basic s3cret": 401, "s3cret": 401,
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/queue", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", auth, resp.StatusCode, want)
		}
		if want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("Authorization %q: WWW-Authenticate %q", auth, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// A GET that another site's page makes as a subresource (an <img> of
// /debug/pprof/profile, a no-cors fetch of the queue) is refused before it
// runs; a navigation, a same-origin fetch and a request without Fetch
// Metadata (the CLI) are served.
func TestCrossSiteSubresourceRefused(t *testing.T) {
	srv, _, _ := setup(t, "")
	for _, c := range []struct {
		site, mode string
		want       int
	}{
		{"cross-site", "no-cors", 403}, {"same-site", "no-cors", 403}, {"cross-site", "cors", 403},
		{"cross-site", "navigate", 200}, {"same-origin", "cors", 200}, {"none", "navigate", 200}, {"", "", 200},
	} {
		hdr := map[string]string{}
		if c.site != "" {
			hdr["Sec-Fetch-Site"], hdr["Sec-Fetch-Mode"] = c.site, c.mode
		}
		if code, body := request(t, "GET", srv.URL+"/api/queue", hdr); code != c.want {
			t.Errorf("Sec-Fetch-Site %q, Sec-Fetch-Mode %q: %d, want %d: %s", c.site, c.mode, code, c.want, body)
		}
	}
}

// What cannot be a message ID is 404 before the queue is asked: a path
// segment with "/" in it (%2F), "..", a long or a lower-case ID. A trace's
// events are stored under "r/ID/", so an ID naming such a key must not
// read them as a trace of its own.
func TestNonIDsAreNotLookedUp(t *testing.T) {
	var asked []string
	srv, _, id := setup(t, "", func(o *Options) {
		o.Trace = func(tid string) ([]byte, error) {
			asked = append(asked, tid)
			return []byte(`{}`), nil
		}
	})
	for _, bad := range []string{id + "%2Fx", "..", strings.Repeat("A", 5000), strings.ToLower(id), id[:19], id + "0"} {
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/queue/" + bad}, {"POST", "/api/queue/" + bad + "/hold"}, {"GET", "/api/trace/" + bad},
		} {
			code, body := do(t, c.method, srv.URL+c.path, "")
			if code != http.StatusNotFound || !strings.Contains(body, "no such ") || len(body) > 200 {
				t.Errorf("%s %.60s: %d %.200s", c.method, c.path, code, body)
			}
		}
	}
	if len(asked) != 0 {
		t.Fatalf("the trace store was asked for %q", asked)
	}
	if code, _ := do(t, "GET", srv.URL+"/api/trace/"+id, ""); code != 200 || len(asked) != 1 {
		t.Fatalf("a real ID's trace: %d, asked %q", code, asked)
	}
}
