package admin

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/sluice-mta/sluice/core/queue"
)

// POST /api/queue/flush answers its count when it is 0 too: a script
// reading .count of an empty queue's flush gets 0, not null.
func TestFlushAnswersZeroCount(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	srv := httptest.NewServer(Handler(Options{Queue: q}))
	defer srv.Close()
	code, body := do(t, "POST", srv.URL+"/api/queue/flush", "")
	var got map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got["count"] != float64(0) || got["action"] != "flush" {
		t.Fatalf("flush of an empty queue: %d %s", code, body)
	}
}
