//go:build interop

package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// The refusal tests (Exim, OpenSMTPD, Postfix as Sluice's next hop): the
// peer refuses bad@example.net for good (550) and tmp@example.net for now
// (4xx) among four recipients of one message, and relays what it takes
// to a sink.

// sendToRefusingPeer sends Sluice at addr one message from from to the
// four recipients and returns its queue id.
func sendToRefusingPeer(t *testing.T, addr, from, subject string) string {
	t.Helper()
	rcpts := []string{"ok1@example.net", "bad@example.net", "tmp@example.net", "ok2@example.net"}
	reply, err := testlib.Send(addr, from, rcpts, testlib.Message(from, "ok1@example.net", subject, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(reply, "2.0.0 Ok: queued as ")
}

// checkRefusals checks what Sluice made of the refusals: the other two
// recipients at the sink in one transaction, a failure report to the
// sender (through the peer too) for bad@example.net with the peer's 550
// reply diag and none for tmp@example.net, which waits in the queue for
// its retry with a last reply starting with tmpReply.
func checkRefusals(t *testing.T, sink *testlib.Sink, admin, id, from, diag, tmpReply string) {
	t.Helper()
	var msg, report *testlib.Delivery
	for _, d := range sink.WaitN(t, 2, 30*time.Second) {
		switch d.From {
		case from:
			msg = &d
		case "":
			report = &d
		}
	}
	if msg == nil {
		t.Fatal("no message at the sink")
	}
	// OpenSMTPD keeps its envelopes in no particular order.
	if slices.Sort(msg.Rcpts); fmt.Sprint(msg.Rcpts) != "[ok1@example.net ok2@example.net]" {
		t.Fatalf("message at the sink: %+v", msg)
	}
	if report == nil || fmt.Sprint(report.Rcpts) != "["+from+"]" ||
		!strings.Contains(string(report.Data), "Final-Recipient: rfc822; bad@example.net") ||
		!strings.Contains(string(report.Data), "Diagnostic-Code: smtp; "+diag) ||
		strings.Contains(string(report.Data), "tmp@example.net") {
		t.Fatalf("failure report:\n%+v", report)
	}
	resp, err := http.Get("http://" + admin + "/api/queue/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var q struct {
		State string
		Rcpts []struct {
			Addr, Status string
			LastReply    string `json:"last_reply"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		t.Fatal(err)
	}
	got := q.State
	for _, r := range q.Rcpts {
		got += fmt.Sprintf(" %s=%s", r.Addr, r.Status)
		if r.Addr == "tmp@example.net" && !strings.HasPrefix(r.LastReply, tmpReply) {
			t.Errorf("tmp@example.net's last reply %q", r.LastReply)
		}
	}
	if want := "active ok1@example.net=delivered bad@example.net=failed tmp@example.net=pending ok2@example.net=delivered"; got != want {
		t.Errorf("queue: %s, want %s", got, want)
	}
}
