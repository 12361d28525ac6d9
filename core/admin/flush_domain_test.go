package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// POST /api/queue/flush?domain=D makes due only the active messages with
// a recipient waiting in D, counts them as flush does, and has delivery
// forget the backoff of D's destinations for each of them, not every
// backoff; other messages keep their schedule.
func TestFlushDomain(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	q, err := queue.Open(t.TempDir(), queue.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	later := now.Add(time.Hour)
	add := func(st envelope.State, next time.Time, rcpt string) string {
		m := &envelope.Message{ID: q.NewID(), From: "a@example.org", State: st, NextAttempt: next, Received: now,
			Rcpts: []envelope.Recipient{{Addr: rcpt, Status: envelope.RcptPending}}}
		if err := q.Enqueue(m, []byte("x")); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	deferred := add(envelope.StateActive, later, "x@dest.example")
	other := add(envelope.StateActive, later, "x@other.example")
	due := add(envelope.StateActive, now.Add(-time.Minute), "y@DEST.example")
	held := add(envelope.StateHeld, later, "z@dest.example")

	var mu sync.Mutex
	var forgot []string
	global := 0
	srv := httptest.NewServer(Handler(Options{Queue: q,
		ForgetBackoffs: func() { mu.Lock(); global++; mu.Unlock() },
		ForgetSiteBackoff: func(m *envelope.Message, domain string) {
			mu.Lock()
			forgot = append(forgot, m.ID+" "+domain)
			mu.Unlock()
		}}))
	defer srv.Close()

	code, body := do(t, "POST", srv.URL+"/api/queue/flush?domain=Dest.Example.", "")
	var got map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got["action"] != "flush" || got["domain"] != "dest.example" || got["count"] != float64(2) {
		t.Fatalf("flush of dest.example: %d %s", code, body)
	}
	for id, want := range map[string]time.Time{deferred: now, other: later, due: now.Add(-time.Minute), held: later} {
		if m, err := q.Get(id); err != nil || !m.NextAttempt.Equal(want) {
			t.Errorf("message %s: next attempt %v (%v), want %v", id, m.NextAttempt, err, want)
		}
	}
	slices.Sort(forgot)
	want := []string{deferred + " dest.example", due + " dest.example"}
	slices.Sort(want)
	if !slices.Equal(forgot, want) || global != 0 {
		t.Errorf("backoffs forgotten for %q and %d times for all, want %q and none for all", forgot, global, want)
	}
	// What cannot be a domain is refused, not taken for the whole queue.
	for _, d := range []string{"", "x@dest.example", "dest example", "-dest.example"} {
		code, body := do(t, "POST", srv.URL+"/api/queue/flush?domain="+url.QueryEscape(d), "")
		if code != http.StatusBadRequest || !strings.Contains(body, "domain") {
			t.Errorf("flush domain=%q: %d %s, want 400", d, code, body)
		}
	}
}
