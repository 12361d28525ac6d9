package main

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// TestQueueShowNotes: queue show prints the notes queued with a message,
// the session's then the transaction's, one key=value a line sorted by
// key, a value's control characters escaped; a message without notes
// has no notes section.
func TestQueueShowNotes(t *testing.T) {
	url, ids, q, _ := adminServer(t, 1)
	if out := runCLI(t, "queue", "show", ids[0], "--admin", url); strings.Contains(out, "notes:") {
		t.Fatalf("queue show of a message without notes:\n%s", out)
	}
	if _, err := q.Modify(ids[0], func(m *envelope.Message) error {
		m.SessionNotes = map[string]string{"rbl.listed": "no", "geo": "FR"}
		m.TxnNotes = map[string]string{"spam.score": "7.5\r\nrcpt: forged"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "queue", "show", ids[0], "--admin", url)
	want := "\nnotes:\n  session  geo=FR\n  session  rbl.listed=no\n  txn      spam.score=7.5\\r\\nrcpt: forged\n"
	if !strings.HasSuffix(out, want) {
		t.Fatalf("queue show:\n%s\nwant it to end with\n%s", out, want)
	}
}
