package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Resume waits as long as flush --domain: the daemon answers once it has
// read the whole queue for the domain's mail (FlushDomain), which on the
// queue a suspension piles up takes longer than the client's usual
// timeout. The resume happened, and the command must not say it failed.
// The answer has no count: the daemon does not give one.
func TestResumeWaitsForTheFlush(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/api/queue/resume" {
			http.NotFound(w, r)
			return
		}
		<-time.After(600 * time.Millisecond) // the daemon reading its queue
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"action": "resume", "domain": "d.test"}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "")
	c.HTTP.Timeout = 200 * time.Millisecond
	raw, err := c.Resume("d.test")
	if err != nil {
		t.Fatalf("resume answered after the client's timeout: %v", err)
	}
	if !strings.Contains(string(raw), `"resume"`) {
		t.Fatalf("resume: %s", raw)
	}

	h := Handler(Options{Suspensions: oneSuspended{}, Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/queue/resume?domain=D.test", nil))
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "count") || !strings.Contains(rec.Body.String(), `"d.test"`) {
		t.Fatalf("resume answer: %d %s, want action and domain, no count", rec.Code, rec.Body)
	}
}

// oneSuspended is a Suspender with d.test suspended.
type oneSuspended struct{}

func (oneSuspended) Suspend(string, time.Duration, string) (Suspension, error) {
	return Suspension{}, nil
}
func (oneSuspended) Resume(d string) (bool, error) { return d == "d.test", nil }
func (oneSuspended) List() []Suspension            { return nil }
