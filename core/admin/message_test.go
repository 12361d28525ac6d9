package admin

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// enqueueText queues a message with text as its body, in state st.
func enqueueText(t *testing.T, q *queue.Store, st envelope.State, text []byte) string {
	t.Helper()
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org", State: st,
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, text); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// GET /api/queue/{id}/message answers the stored bytes, CRLF as they are,
// as message/rfc822, in every state: active, deferred (active after a
// failed attempt), held and quarantined.
func TestQueuedMessage(t *testing.T) {
	srv, q, _ := setup(t, "")
	text := []byte("Received: from client.test\r\nSubject: hi\r\n\r\nline 1\r\n\r\nline 3\r\n")
	ids := map[string]string{}
	for _, st := range envelope.States {
		ids[string(st)] = enqueueText(t, q, st, text)
	}
	ids["deferred"] = enqueueText(t, q, envelope.StateActive, text)
	if _, err := q.Modify(ids["deferred"], func(m *envelope.Message) error {
		m.Attempts, m.LastError, m.NextAttempt = 1, "451 4.3.0 try later", time.Now().Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for st, id := range ids {
		resp, err := http.Get(srv.URL + "/api/queue/" + id + "/message")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, text) {
			t.Errorf("%s: %d %q (%v), want %q", st, resp.StatusCode, got, err, text)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "message/rfc822" {
			t.Errorf("%s: Content-Type %q", st, ct)
		}
		if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(text)) {
			t.Errorf("%s: Content-Length %q, want %d", st, cl, len(text))
		}
	}
}

// An unknown or malformed id is 404 with the JSON error GET
// /api/queue/{id} answers; a POST (or DELETE) is 405 naming GET, not an
// unknown action; the token guards it like every endpoint.
func TestQueuedMessageErrors(t *testing.T) {
	srv, _, id := setup(t, "s3cret")
	for _, tc := range []struct {
		method, path, token string
		code                int
		allow, body         string
	}{
		{"GET", "/api/queue/" + id + "/message", "", 401, "", "missing or wrong bearer token"},
		{"GET", "/api/queue/0123456789ABCDEFGHJK/message", "s3cret", 404, "", "queue: no such message"},
		{"GET", "/api/queue/../message", "s3cret", 404, "", "no such"},
		{"GET", "/api/queue/nope/message", "s3cret", 404, "", "no such message: not a message ID"},
		{"POST", "/api/queue/" + id + "/message", "s3cret", 405, "GET, HEAD", "POST is not allowed"},
		{"DELETE", "/api/queue/" + id + "/message", "s3cret", 405, "GET, HEAD", "DELETE is not allowed"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s %s: %d %s %s, want %d and a JSON error with %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.code, tc.body)
		}
		if resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, resp.Header.Get("Allow"), tc.allow)
		}
	}
	// The client says the same, and with the token reads the message.
	c := NewClient(srv.URL, "s3cret")
	var ae *APIError
	if _, err := c.QueuedMessage("0123456789ABCDEFGHJK"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("unknown id: %v", err)
	}
	r, err := c.QueuedMessage(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, err := io.ReadAll(r); err != nil || string(b) != "x" {
		t.Fatalf("message %q %v", b, err)
	}
}

// A message larger than any JSON answer may be (MaxAnswer) is read whole,
// as it arrives.
func TestQueuedMessageLarge(t *testing.T) {
	srv, q, _ := setup(t, "")
	text := bigText(50 << 20)
	id := enqueueText(t, q, envelope.StateActive, text)
	c := NewClient(srv.URL, "")
	c.MaxAnswer = 1 << 20
	r, err := c.QueuedMessage(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	want := sha256.Sum256(text)
	if err != nil || n != int64(len(text)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("read %d of %d bytes (%v); same content: %v", n, len(text), err, bytes.Equal(h.Sum(nil), want[:]))
	}
}

// bigText is a message of at least n bytes: a header, then numbered
// lines, each different, so that a piece lost, doubled or moved shows.
func bigText(n int) []byte {
	b := make([]byte, 0, n+64)
	b = append(b, "Subject: big\r\n\r\n"...)
	for i := 0; len(b) < n; i++ {
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, " of a long message\r\n"...)
	}
	return b
}

// The client's timeout bounds each wait for the daemon: an answer that
// stops coming fails as unreachable, while a reader that takes its time
// between reads (a pager) is not cut off.
func TestQueuedMessageStall(t *testing.T) {
	more, stalled := make(chan struct{}), make(chan struct{})
	defer close(stalled)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "message/rfc822")
		_, _ = io.WriteString(w, "Subject: x\r\n")
		w.(http.Flusher).Flush()
		wait := stalled
		if r.URL.Path == "/api/queue/0123456789ABCDEFGHJK/message" {
			wait = more // the rest once the reader asks for it
		}
		select {
		case <-wait:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "\r\nbody\r\n")
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "")
	c.HTTP.Timeout = 200 * time.Millisecond

	r, err := c.QueuedMessage("0123456789ABCDEFGHJK")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 12)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	<-time.After(3 * c.HTTP.Timeout) // the caller's own time: not the daemon's
	close(more)
	rest, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(first)+string(rest) != "Subject: x\r\n\r\nbody\r\n" {
		t.Fatalf("slow reader: %q %q %v", first, rest, err)
	}

	r, err = c.QueuedMessage("1123456789ABCDEFGHJK") // the handler stalls
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(r); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "sent nothing for 200ms") {
			t.Fatalf("stalled answer: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a stalled answer was waited for past the timeout")
	}
}

// An error answer whose body stops coming fails after the client's
// timeout, as a message that stops coming does, instead of hanging the
// command: only the wait for its status line was bounded.
func TestQueuedMessageErrorStall(t *testing.T) {
	stalled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error": `)
		w.(http.Flusher).Flush()
		select {
		case <-stalled:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stalled) // first: Close waits for the handler
	c := NewClient(srv.URL, "")
	c.HTTP.Timeout = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		r, err := c.QueuedMessage("0123456789ABCDEFGHJK")
		if err == nil {
			r.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "sent nothing for 200ms") || !strings.Contains(err.Error(), "500") {
			t.Fatalf("stalled error answer: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a stalled error answer was waited for past the timeout")
	}
}
