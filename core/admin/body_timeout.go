package admin

import (
	"io"
	"net/http"
	"time"
)

// DefaultBodyTimeout is Options.BodyTimeout's default.
const DefaultBodyTimeout = 30 * time.Second

// bodyTimeout bounds the wait for a request's body, which the server's
// ReadHeaderTimeout does not cover. Without it, a client that sent its
// headers and then stalled its body held its connection, and a
// goroutine, for good: net/http reads what a handler left of a body
// (up to 256 KiB) before it writes the answer, so even a route that
// reads no body (a hold, a 401) never answered, and 128 such clients
// (the daemon's connection cap) shut every other client out of the API.
//
// A request with a body must get each part of it within timeout of the
// one before (of the request, for the first): the handler's reads push
// the deadline on, while what the handler leaves unread must arrive
// within timeout of its last read. A client that stalls longer gets its
// answer, and its connection is closed (RFC 9112 section 9.6: what is
// left on the wire cannot be read as the next request).
func bodyTimeout(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 0: no body; -1: one of unknown length (chunked).
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
				r.Body = &progressBody{ReadCloser: r.Body, rc: rc, timeout: timeout}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// progressBody moves the connection's read deadline on with each read of
// the body that got some of it.
type progressBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	// Not at the body's end: net/http then starts its own read of the
	// connection (to see the client go), with no deadline, and one set
	// now would end it, and cancel the request's context, while the
	// handler still works.
	if n > 0 && err == nil {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	return n, err
}
