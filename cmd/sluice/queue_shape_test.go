package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// shapeAdmin serves a queue's admin API whose clock, for the queue and
// the API, is now.
func shapeAdmin(t *testing.T, now time.Time) (string, *queue.Store) {
	t.Helper()
	clock := func() time.Time { return now }
	q, err := queue.Open(t.TempDir(), queue.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: q, Clock: clock, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv.URL, q
}

// queueAt queues a message from from, received at received, to rcpts
// ("delivered:" before one marks it delivered), next tried at next.
func queueAt(t *testing.T, q *queue.Store, received, next time.Time, from string, rcpts ...string) string {
	t.Helper()
	m := &envelope.Message{ID: q.NewID(), From: from, Received: received, NextAttempt: next}
	for _, r := range rcpts {
		st := envelope.RcptPending
		if a, ok := strings.CutPrefix(r, "delivered:"); ok {
			r, st = a, envelope.RcptDelivered
		}
		m.Rcpts = append(m.Rcpts, envelope.Recipient{Addr: r, Status: st})
	}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// queue shape prints qshape's table: T and the age buckets by the
// daemon's clock, TOTAL first, the busiest domains, then others; pending
// recipients by default, messages by sender domain with --sender.
func TestQueueShapeCLI(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	url, q := shapeAdmin(t, now)
	queueAt(t, q, now.Add(-time.Minute), now, "alice@example.org", "a@one.test", "b@One.test", "delivered:c@one.test")
	queueAt(t, q, now.Add(-30*time.Minute), now, "", "x@two.example.net")
	queueAt(t, q, now.Add(-2000*time.Minute), now, "bob@example.org", "y@one.test")

	out := runCLI(t, "queue", "shape", "--admin", url)
	want := "" +
		"                T 5 10 20 40 80 160 320 640 1280 1280+\n" +
		"          TOTAL 4 2  0  0  1  0   0   0   0    0     1\n" +
		"       one.test 3 2  0  0  0  0   0   0   0    0     1\n" +
		"two.example.net 1 0  0  0  1  0   0   0   0    0     0\n"
	if out != want {
		t.Fatalf("queue shape:\n%s\nwant:\n%s", out, want)
	}
	out = runCLI(t, "queue", "shape", "--admin", url, "--sender", "--top", "1")
	want = "" +
		"                T 5 10 20 40 80 160 320 640 1280 1280+\n" +
		"      TOTAL 3 1  0  0  1  0   0   0   0    0     1\n"
	if lines := strings.Split(out, "\n"); len(lines) != 5 ||
		!strings.HasSuffix(lines[1], "TOTAL 3 1  0  0  1  0   0   0   0    0     1") ||
		!strings.HasSuffix(lines[2], "example.org 2 1  0  0  0  0   0   0   0    0     1") ||
		!strings.HasSuffix(lines[3], "others 1 0  0  0  1  0   0   0   0    0     0") ||
		len(lines[0]) != len(lines[1]) || len(lines[1]) != len(lines[2]) {
		t.Fatalf("queue shape --sender --top 1:\n%s\nwant rows like:\n%s", out, want)
	}

	out = runCLI(t, "queue", "shape", "--admin", url, "--json", "--state", "all")
	var s admin.QueueShape
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if s.State != "all" || s.By != "recipient" || s.Total.Count != 4 || len(s.Domains) != 2 || s.Domains[0].Domain != "one.test" ||
		len(s.Domains[0].Ages) != len(s.Buckets) || s.Domains[0].Ages[9] != 1 {
		t.Fatalf("--json: %s", out)
	}
	// A state without mail is a TOTAL of zeros, as qshape prints it.
	if out := runCLI(t, "queue", "shape", "--admin", url, "--state", "held"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "TOTAL 0 0") {
		t.Fatalf("queue shape --state held:\n%s", out)
	}
}

// queue flush --domain D tries now only the active messages with a
// recipient waiting in D; the others keep their next attempt.
func TestQueueFlushDomainCLI(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	url, q := shapeAdmin(t, now)
	later := now.Add(time.Hour)
	mine := queueAt(t, q, now, later, "a@example.org", "x@dest.example")
	other := queueAt(t, q, now, later, "a@example.org", "x@other.example")
	if out := runCLI(t, "queue", "flush", "--admin", url, "--domain", "DEST.example"); out != "1 message with recipients in DEST.example scheduled now\n" {
		t.Fatalf("queue flush --domain: %q", out)
	}
	for id, want := range map[string]time.Time{mine: now, other: later} {
		if m, err := q.Get(id); err != nil || !m.NextAttempt.Equal(want) {
			t.Fatalf("message %s: next attempt %v (%v), want %v", id, m.NextAttempt, err, want)
		}
	}
	out := runCLI(t, "queue", "flush", "--admin", url, "--domain", "other.example", "--json")
	var r map[string]any
	if json.Unmarshal([]byte(out), &r) != nil || r["domain"] != "other.example" || r["count"] != float64(1) || r["action"] != "flush" {
		t.Fatalf("queue flush --domain --json: %s", out)
	}
}

// A bad shape or flush flag is a user error (exit 1) in one line naming
// it, before the daemon is asked.
func TestQueueShapeBadFlags(t *testing.T) {
	url, _ := shapeAdmin(t, time.Now())
	for _, c := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"shape", "--top", "0"}, "--top"},
		{[]string{"shape", "--top", "-3"}, "--top"},
		{[]string{"shape", "--state", "incoming"}, "--state"},
		{[]string{"shape", "--domain", "example.org"}, "--domain"},
		{[]string{"shape", "extra"}, "shape"},
		{[]string{"list", "--sender"}, "--sender"},
		{[]string{"list", "--top", "5"}, "--top"},
		{[]string{"list", "--domain", "example.org"}, "--domain"},
		{[]string{"flush", "--domain", ""}, "--domain"},
		{[]string{"flush", "--domain", "a@example.org"}, "--domain"},
		{[]string{"flush", "--domain", "not a domain"}, "--domain"},
	} {
		var o, e bytes.Buffer
		code := run(append([]string{"queue", "--admin", url}, c.args...), nil, &o, &e)
		if code != 1 || strings.Count(e.String(), "\n") != 1 || !strings.Contains(e.String(), c.want) {
			t.Errorf("queue %q: exit %d, stderr %q; want exit 1 and one line naming %s", c.args, code, e.String(), c.want)
		}
	}
}
