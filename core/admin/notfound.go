package admin

import (
	"net/http"
)

// jsonErrors answers what mux has no handler for — an unknown path, a
// method the path does not take, a path mux would redirect (an empty id
// in "/api/queue//hold") — with a JSON error like every other one,
// instead of mux's plain text; a 405 keeps its Allow header.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.code == http.StatusMethodNotAllowed {
			allow := rec.header.Get("Allow")
			switch {
			case r.URL.Path == "/api/queue/flush":
				allow = http.MethodPost // its GET route only answers 405
			case isMessagePath(r.URL.Path):
				allow = messageAllow // not the actions' POST
			}
			methodNotAllowed(w, r, allow)
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
}

// methodNotAllowed answers 405 with the Allow header (RFC 9110 section
// 15.5.6) and a JSON error naming the allowed methods.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+" (allowed: "+allow+")")
}

// statusRecorder keeps what a handler answers, and drops its body.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return len(b), nil
}
