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

// Called as mailq (a Postfix operator's habit, or Debian's mailq symlink
// to sendmail left pointing at Sluice), the binary lists the queue with
// queue list's flags, instead of printing its usage.
func TestMailqListsTheQueue(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org",
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: q}))
	defer srv.Close()

	var out, errb bytes.Buffer
	if code := runAs("mailq", []string{"--admin", srv.URL}, nil, &out, &errb); code != 0 {
		t.Fatalf("mailq: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), m.ID) || !strings.Contains(out.String(), "1 message (active 1") {
		t.Fatalf("mailq:\n%s", out.String())
	}
}
