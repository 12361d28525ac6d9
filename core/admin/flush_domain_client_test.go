package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A daemon from before flush --domain ignores the domain parameter and
// flushes the whole queue, answering without "domain": the client says
// so, an error, rather than reporting that one domain's mail was
// flushed.
func TestFlushDomainOlderDaemon(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/api/queue/flush" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"action": "flush", "count": 7}`)
	}))
	defer srv.Close()
	r, _, err := NewClient(srv.URL, "").FlushDomain("dest.example")
	if err == nil || !strings.Contains(err.Error(), "every") || !strings.Contains(err.Error(), "7") {
		t.Fatalf("flush --domain against a daemon without it: %+v, %v; want an error saying it flushed every message (7)", r, err)
	}
}
