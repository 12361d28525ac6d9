package admin

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// An internationalized domain is one site whether a recipient spells it
// in UTF-8 (SMTPUTF8, RFC 6531 §3.2), its A-label (RFC 5890 §2.3.2.1) or
// upper case: flush --domain D, given either form, makes due the mail of
// every spelling, and the shape counts it in one row, by its A-label.
func TestSiteIDNOneDomain(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	q, err := queue.Open(t.TempDir(), queue.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	later := now.Add(time.Hour)
	add := func(rcpt string) string {
		m := &envelope.Message{ID: q.NewID(), From: "a@BÜCHER.example", NextAttempt: later, Received: now,
			Rcpts: []envelope.Recipient{{Addr: rcpt, Status: envelope.RcptPending}}}
		if err := q.Enqueue(m, []byte("x")); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	ids := []string{add("x@bücher.example"), add("y@XN--BCHER-KVA.example."), add("z@BU\u0308CHER.example")}
	other := add("w@other.example")
	srv := httptest.NewServer(Handler(Options{Queue: q, Clock: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()

	for _, d := range []string{"bücher.example", "xn--bcher-kva.EXAMPLE."} {
		for _, id := range ids {
			if _, err := q.Modify(id, func(m *envelope.Message) error { m.NextAttempt = later; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		code, body := do(t, "POST", srv.URL+"/api/queue/flush?domain="+url.QueryEscape(d), "")
		var got flushResult
		if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Count != len(ids) || got.Domain != "xn--bcher-kva.example" {
			t.Fatalf("flush --domain %s: %d %s; want %d messages of xn--bcher-kva.example", d, code, body, len(ids))
		}
		for _, id := range ids {
			if m, err := q.Get(id); err != nil || !m.NextAttempt.Equal(now) {
				t.Errorf("flush --domain %s: %s (%v) next attempt %v, want now", d, m.Rcpts[0].Addr, err, m.NextAttempt)
			}
		}
		if m, err := q.Get(other); err != nil || !m.NextAttempt.Equal(later) {
			t.Errorf("flush --domain %s: other.example's next attempt %v (%v), want kept", d, m.NextAttempt, err)
		}
	}

	code, body := do(t, "GET", srv.URL+"/api/queue/shape", "")
	var s QueueShape
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil || len(s.Domains) != 2 ||
		s.Domains[0].Domain != "xn--bcher-kva.example" || s.Domains[0].Count != len(ids) {
		t.Fatalf("shape: %d %s; want xn--bcher-kva.example counting %d", code, body, len(ids))
	}
	code, body = do(t, "GET", srv.URL+"/api/queue/shape?by=sender", "")
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil || len(s.Domains) != 1 || s.Domains[0].Domain != "xn--bcher-kva.example" {
		t.Fatalf("shape by sender: %d %s; want one row, xn--bcher-kva.example", code, body)
	}
}
