package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/admin"
)

// queue list reads a bounded answer: a page over admin.MaxAnswerBytes
// (from an older daemon, which built pages of 10,000 messages whatever
// their size) is a user error on one line that says how to ask for less,
// not the whole body in the operator's memory, nor exit 2, as the daemon
// was reached. No current daemon sends one, so a handler streams it.
func TestQueueListAnswerBounded(t *testing.T) {
	chunk := []byte(strings.Repeat(`{"id":"x"},`, 1<<16/11))
	var sent int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"messages":[`)
		for sent = 0; sent <= 2*admin.MaxAnswerBytes; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `{}]}`)
	}))
	defer srv.Close()
	wantUserError(t, []string{"queue", "list", "--admin", srv.URL, "--limit", "10000"},
		"more than 64 MiB", "GET /api/queue?limit=10000", "--limit N")
	srv.Close() // waits for the handler: sent is its own again
	if sent > 2*admin.MaxAnswerBytes {
		t.Errorf("the client read all %d bytes", sent)
	}
}
