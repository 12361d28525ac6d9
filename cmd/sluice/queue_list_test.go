package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// queue list prints one page and how to ask for the next; --all prints
// every page; --state filters.
func TestQueueListPages(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var ids []string
	for i := range 5 {
		m := &envelope.Message{ID: q.NewID(), From: "a@example.org",
			Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
		if i == 3 {
			m.State = envelope.StateHeld
		}
		if err := q.Enqueue(m, []byte("x")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: q}))
	defer srv.Close()

	out := runCLI(t, "queue", "list", "--admin", srv.URL, "--limit", "2")
	if !strings.Contains(out, ids[0]) || !strings.Contains(out, ids[1]) || strings.Contains(out, ids[2]) ||
		!strings.Contains(out, "2 messages (active 4, held 1, quarantined 0)") ||
		!strings.Contains(out, "more: sluice queue list --after "+ids[1]) {
		t.Fatalf("first page:\n%s", out)
	}
	out = runCLI(t, "queue", "list", "--admin", srv.URL, "--limit", "2", "--after", ids[1])
	if strings.Contains(out, ids[1]) || !strings.Contains(out, ids[2]) || !strings.Contains(out, ids[3]) {
		t.Fatalf("second page:\n%s", out)
	}
	out = runCLI(t, "queue", "list", "--admin", srv.URL, "--limit", "2", "--all")
	for _, id := range ids {
		if strings.Count(out, id) != 1 {
			t.Fatalf("--all lists %s %d times:\n%s", id, strings.Count(out, id), out)
		}
	}
	if strings.Count(out, "ID ") != 1 || strings.Contains(out, "more:") || !strings.Contains(out, "5 messages") {
		t.Fatalf("--all:\n%s", out)
	}
	out = runCLI(t, "queue", "list", "--admin", srv.URL, "--state", "held")
	if !strings.Contains(out, ids[3]) || strings.Contains(out, ids[0]) || !strings.Contains(out, "1 message (active") {
		t.Fatalf("--state held:\n%s", out)
	}
	// Bad flags are user errors (exit 1) named on stderr, not an empty list.
	for _, args := range [][]string{{"--limit", "-5"}, {"--state", "hold"}} {
		var o, e bytes.Buffer
		full := append([]string{"queue", "list", "--admin", srv.URL}, args...)
		if code := run(full, nil, &o, &e); code != 1 || !strings.Contains(e.String(), args[0]) {
			t.Fatalf("%v: exit %d, stderr %q", args, code, e.String())
		}
	}
}

// A deferred message's last error shows under its row, as Postfix's mailq
// shows why mail waits; a message with none has no such line.
func TestQueueListShowsWhyMailWaits(t *testing.T) {
	url, ids, q, _ := adminServer(t, 2)
	if _, err := q.Modify(ids[0], func(m *envelope.Message) error {
		m.LastError = "451 4.4.1 No mail server could be reached, will retry"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "queue", "list", "--admin", url)
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, ids[0]):
			if i+1 >= len(lines) || lines[i+1] != "    (451 4.4.1 No mail server could be reached, will retry)" {
				t.Fatalf("no reason under the deferred message:\n%s", out)
			}
		case strings.HasPrefix(l, ids[1]):
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    (") {
				t.Fatalf("a reason under a message without one:\n%s", out)
			}
		}
	}
}

// The counts the queue commands print agree with their number: "1
// message", as mailq says "1 Request", never "1 messages".
func TestQueueCountsInWords(t *testing.T) {
	url, _, _, _ := adminServer(t, 1)
	if out := runCLI(t, "queue", "flush", "--admin", url); out != "1 message scheduled now\n" {
		t.Fatalf("flush of one message: %q", out)
	}
	if out := runCLI(t, "queue", "list", "--admin", url); !strings.Contains(out, "\n1 message (active 1, held 0, quarantined 0)\n") {
		t.Fatalf("list of one message:\n%s", out)
	}
	url, _, _, _ = adminServer(t, 2)
	if out := runCLI(t, "queue", "flush", "--admin", url); out != "2 messages scheduled now\n" {
		t.Fatalf("flush of two messages: %q", out)
	}
}
