package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// bigMessage is a queued message with rcpts recipients, each carrying a
// remote reply of replyLen bytes: what a message to a large list looks
// like after a few deferred attempts.
func bigMessage(q *queue.Store, rcpts, replyLen int) *envelope.Message {
	reply := "451 4.4.1 " + strings.Repeat("x", replyLen-10)
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org", Received: time.Now(), State: envelope.StateActive,
		NextAttempt: time.Now().Add(time.Hour), LastError: reply}
	for j := range rcpts {
		m.Rcpts = append(m.Rcpts, envelope.Recipient{Addr: fmt.Sprintf("r%d@example.net", j),
			Status: envelope.RcptPending, Attempts: 3, LastReply: reply})
	}
	return m
}

// GET /api/queue bounds a page by its size as well as by its count: ten
// messages of a hundred recipients with long replies are more than the
// bound (PageBytes, here 100 KB for a quick test; MaxPageBytes, 8 MiB,
// in the daemon), so even limit=10000 gets a page of fewer, with next,
// and paging goes on to list every one of them once. A single message
// larger than the bound is still listed, alone, so that paging never
// stalls.
func TestQueuePageBoundedBySize(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var ids []string
	const pageBytes = 100 << 10
	for i := range 10 {
		replyLen := 300 // some 30 KB a message
		if i == 5 {
			replyLen = pageBytes/100 + 100 // this one alone is over the bound
		}
		m := bigMessage(q, 100, replyLen)
		if err := q.Enqueue(m, []byte("x")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	srv := httptest.NewServer(Handler(Options{Queue: q, PageBytes: pageBytes}))
	defer srv.Close()
	cl := NewClient(srv.URL, "")

	var got []string
	p := PageQuery{Limit: MaxPageSize}
	for pages := 1; ; pages++ {
		if pages > len(ids) {
			t.Fatalf("more pages than messages: %v", got)
		}
		l, raw, err := cl.QueuePage(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Messages) == 0 {
			t.Fatalf("page %d is empty (next %q)", pages, l.Next)
		}
		// Indentation aside, the messages keep within the bound, unless
		// the page is the one message that is over it.
		if len(raw) > 2*pageBytes && len(l.Messages) > 1 {
			t.Fatalf("page %d: %d bytes for %d messages", pages, len(raw), len(l.Messages))
		}
		for _, m := range l.Messages {
			if len(m.Rcpts) != 100 {
				t.Fatalf("message %s has %d recipients, want 100", m.ID, len(m.Rcpts))
			}
			got = append(got, m.ID)
		}
		if pages == 1 && (len(l.Messages) == len(ids) || l.Next == "") {
			t.Fatalf("first page holds %d of %d messages, next %q: the page is not bounded by size", len(l.Messages), len(ids), l.Next)
		}
		if l.Next == "" {
			break
		}
		p.After = l.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("paged %v, want %v", got, ids)
	}
}

// The client reads at most MaxAnswer (MaxAnswerBytes, 64 MiB, unless
// set; here 1 MiB for a quick test) of an answer: an endless or huge body
// (an older daemon's page, some other service) is an error saying so,
// ErrTooLarge and not "unreachable", instead of the operator's memory.
// A real daemon no longer sends one, so a handler streams it.
func TestClientAnswerBounded(t *testing.T) {
	chunk := []byte(strings.Repeat(`{"id":"x"},`, 1<<16/11))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"messages":[`)
		for sent := 0; sent <= 4<<20; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
		}
		_, _ = io.WriteString(w, `{}]}`)
	}))
	defer srv.Close()
	cl := NewClient(srv.URL, "")
	cl.MaxAnswer = 1 << 20
	_, _, err := cl.Queue()
	if err == nil || !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "GET /api/queue") || !strings.Contains(err.Error(), "more than 1 MiB") {
		t.Fatalf("err %q does not say what was too large", err)
	}
}

// queuePage, what the handler writes, has QueueList's JSON, what clients
// read: every field of one is a field of the other.
func TestQueuePageIsQueueList(t *testing.T) {
	fields := func(v any) map[string]bool {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for k := range m {
			out[k] = true
		}
		return out
	}
	page := fields(queuePage{Next: "x", Messages: []json.RawMessage{}})
	list := fields(QueueList{Next: "x"})
	if fmt.Sprint(page) != fmt.Sprint(list) {
		t.Fatalf("page fields %v, list fields %v", page, list)
	}
}
