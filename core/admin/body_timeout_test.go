package admin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stallBody sends a request whose headers promise a body of 100 bytes and
// then only its first byte, and returns the answer's status and whether
// the server then closed the connection. It fails when neither comes
// within 10 s, far beyond the server's body timeout: a stalled body must
// not hold a connection (and the API's connection cap) for good.
func stallBody(t *testing.T, srv *httptest.Server, method, path, token string) (int, bool) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(c, method+" "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+auth+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s %s with a stalled body: no answer: %v", method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s %s: the connection stays open after the answer to a stalled body", method, path)
	}
	return resp.StatusCode, err == io.EOF
}

// A request whose body stalls gets its answer once the body timeout has
// passed, and its connection is closed: on a route that reads no body (an
// action, a GET, a 401), where net/http waited for the rest of the body
// before it wrote the answer, and on POST /api/inject, which reads it.
func TestStalledBodyIsCutOff(t *testing.T) {
	short := func(o *Options) {
		o.BodyTimeout = 100 * time.Millisecond
		o.Inject = func(context.Context, Injection) (*Injected, error) {
			t.Error("Inject called for a body that never came")
			return nil, errors.New("no")
		}
	}
	srv, _, id := setup(t, "", short)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/queue/" + id + "/hold", 200},
		{"POST", "/api/queue/00000000000000000000/delete", 404},
		{"GET", "/api/queue", 200},
		{"POST", "/api/inject", 400},
	} {
		code, closed := stallBody(t, srv, c.method, c.path, "")
		if code != c.want || !closed {
			t.Errorf("%s %s with a stalled body: %d, closed %v; want %d and closed", c.method, c.path, code, closed, c.want)
		}
	}
	tok, _, _ := setup(t, "s3cret", short)
	if code, closed := stallBody(t, tok, "GET", "/metrics", ""); code != 401 || !closed {
		t.Errorf("no token, stalled body: %d, closed %v; want 401 and closed", code, closed)
	}
}

// The body timeout ends with the body: an injection the listener takes
// longer than it to answer keeps its request's context.
func TestBodyTimeoutEndsWithTheBody(t *testing.T) {
	const timeout = 50 * time.Millisecond
	inject := func(ctx context.Context, in Injection) (*Injected, error) {
		select {
		case <-ctx.Done():
			return nil, errors.New("request context cancelled while the listener answered")
		case <-time.After(10 * timeout):
		}
		return &Injected{ID: "0123456789ABCDEFGHJK", Accepted: in.Recipients}, nil
	}
	srv := httptest.NewServer(Handler(Options{Inject: inject, BodyTimeout: timeout}))
	t.Cleanup(srv.Close)
	body := `{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "Subject: hi\n\nhello\n"}`
	for _, chunked := range []bool{false, true} {
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = struct{ io.Reader }{r} // no length known: sent chunked
		}
		resp, err := http.Post(srv.URL+"/api/inject", "application/json", r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("inject (chunked %v) answered after the body timeout: %d %s", chunked, resp.StatusCode, b)
		}
	}
}

// The timeout is on progress: a body that comes in parts, each within the
// timeout of the one before, is read whole however long it takes.
func TestBodyTimeoutIsOnProgress(t *testing.T) {
	const timeout = time.Second
	inject := func(_ context.Context, in Injection) (*Injected, error) {
		return &Injected{ID: "0123456789ABCDEFGHJK", Accepted: in.Recipients}, nil
	}
	srv := httptest.NewServer(Handler(Options{Inject: inject, BodyTimeout: timeout}))
	t.Cleanup(srv.Close)
	body := `{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "Subject: hi\n\nhello\n"}`
	pr, pw := io.Pipe()
	go func() {
		// Five parts 300 ms apart: 1.2 s in all, over the timeout.
		for i := range 5 {
			if i > 0 {
				time.Sleep(300 * time.Millisecond)
			}
			part := body[i*len(body)/5 : (i+1)*len(body)/5]
			if _, err := io.WriteString(pw, part); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, err := http.Post(srv.URL+"/api/inject", "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("inject of a slow but steady body: %d %s", resp.StatusCode, b)
	}
}
