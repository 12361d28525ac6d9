package admin

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// GET /api/queue lists one page at a time: limit and after page through
// the queue in arrival order, Next is empty on the last page, state
// filters within the pages, and the counts always cover the whole queue.
func TestQueueListPages(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var ids, held []string
	for i := range 7 {
		m := &envelope.Message{ID: q.NewID(), From: "a@example.org",
			Rcpts: []envelope.Recipient{{Addr: fmt.Sprintf("r%d@example.net", i), Status: envelope.RcptPending}}}
		if i%3 == 0 {
			m.State = envelope.StateHeld
			held = append(held, m.ID)
		}
		if err := q.Enqueue(m, []byte("x")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	srv := httptest.NewServer(Handler(Options{Queue: q}))
	defer srv.Close()
	cl := NewClient(srv.URL, "")

	pages := func(p PageQuery) (got []string, n int) {
		for range 20 {
			l, _, err := cl.QueuePage(p)
			if err != nil {
				t.Fatal(err)
			}
			if l.Counts[envelope.StateActive] != 4 || l.Counts[envelope.StateHeld] != 3 {
				t.Fatalf("counts %v on a page", l.Counts)
			}
			n++
			for _, m := range l.Messages {
				got = append(got, m.ID)
			}
			if l.Next == "" {
				return got, n
			}
			p.After = l.Next
		}
		t.Fatal("paging did not end")
		return nil, 0
	}
	if got, n := pages(PageQuery{Limit: 3}); fmt.Sprint(got) != fmt.Sprint(ids) || n != 3 {
		t.Fatalf("3 per page: %d pages %v, want %v", n, got, ids)
	}
	if got, n := pages(PageQuery{Limit: 7}); fmt.Sprint(got) != fmt.Sprint(ids) || n != 1 {
		t.Fatalf("one full page: %d pages %v", n, got)
	}
	if got, _ := pages(PageQuery{Limit: 2, State: envelope.StateHeld}); fmt.Sprint(got) != fmt.Sprint(held) {
		t.Fatalf("held pages %v, want %v", got, held)
	}
	// Without parameters: the first DefaultPageSize, all of this queue.
	l, _, err := cl.Queue()
	if err != nil || len(l.Messages) != 7 || l.Next != "" || len(l.Domains) != 1 || l.Domains["example.net"] != 7 {
		t.Fatalf("default page %+v %v", l, err)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		if code, _ := do(t, "GET", srv.URL+"/api/queue?limit="+bad, ""); code != 400 {
			t.Fatalf("limit=%s: %d", bad, code)
		}
	}
	// A misspelt state is refused, not answered with an empty page.
	if code, body := do(t, "GET", srv.URL+"/api/queue?state=hold", ""); code != 400 || !strings.Contains(body, "unknown state") {
		t.Fatalf("state=hold: %d %s", code, body)
	}
}
