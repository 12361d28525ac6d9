package admin

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// GET /api/queue?from=&to= lists the messages whose <sender>, or one of
// whose waiting <recipients>, holds the text, case-insensitively: the
// brackets let "<>" name the null sender and "@domain>" a whole domain
// and nothing under it. Recipients already delivered do not match.
func TestQueueListFromTo(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ids := map[string]string{}
	add := func(name, from string, rcpts ...envelope.Recipient) {
		m := &envelope.Message{ID: q.NewID(), From: from, Rcpts: rcpts}
		if err := q.Enqueue(m, []byte("x")); err != nil {
			t.Fatal(err)
		}
		ids[m.ID] = name
	}
	pending := func(a string) envelope.Recipient { return envelope.Recipient{Addr: a, Status: envelope.RcptPending} }
	add("spam", "Spammer@Bad.example", pending("u@example.net"))
	add("bounce", "", pending("spammer@bad.example"))
	add("sub", "root@host.bad.example", pending("u@sub.example.net"))
	add("done", "a@example.org", envelope.Recipient{Addr: "x@example.net", Status: envelope.RcptDelivered}, pending("y@other.test"))

	srv := httptest.NewServer(Handler(Options{Queue: q}))
	defer srv.Close()
	cl := NewClient(srv.URL, "")
	for _, tc := range []struct {
		p    PageQuery
		want []string
	}{
		{PageQuery{From: "@bad.example>"}, []string{"spam"}},
		{PageQuery{From: "bad.example>"}, []string{"spam", "sub"}},
		{PageQuery{From: "<>"}, []string{"bounce"}},
		{PageQuery{From: "<ROOT@"}, []string{"sub"}},
		{PageQuery{To: "@example.net>"}, []string{"spam"}},
		{PageQuery{To: "example.net>"}, []string{"spam", "sub"}},
		{PageQuery{To: "x@example.net"}, nil}, // delivered already
		{PageQuery{To: "spammer"}, []string{"bounce"}},
		{PageQuery{From: "<>", To: "u@"}, nil},
		{PageQuery{From: "bad", To: "u@", Limit: 1}, []string{"spam", "sub"}},
	} {
		var got []string
		p := tc.p
		for range 10 {
			l, _, err := cl.QueuePage(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range l.Messages {
				got = append(got, ids[m.ID])
			}
			if p.After = l.Next; p.After == "" {
				break
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("from %q to %q: %v, want %v", tc.p.From, tc.p.To, got, tc.want)
		}
	}
	if code, body := do(t, "GET", srv.URL+"/api/queue?to="+strings.Repeat("a", maxFilterLen+1), ""); code != 400 || !strings.Contains(body, "at most") {
		t.Fatalf("a long filter: %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/queue?from=", ""); code != 400 || !strings.Contains(body, "must not be empty") {
		t.Fatalf("an empty filter: %d %s", code, body)
	}
}
