package daemon

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestQueueBounceReturnsMessageNow: an operator's bounce of a deferred
// message sends its sender an RFC 3464 report through the bounce hook and
// removes the message.
func TestQueueBounceReturnsMessageNow(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnRcpt(func(rcpt string) error {
		if rcpt == "bob@remote.test" {
			return testlib.Temp
		}
		return nil
	})
	d := startDaemon(t, relayTo(sink))
	r, err := send(t, d, "to-be-bounced")
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, r)
	// Bounce it once it is deferred: while its first attempt runs, a
	// bounce is refused (409), since the attempt might deliver it.
	waitMessage(t, d, id, "an attempt recorded", func(m *envelope.Message) bool { return m.Attempts > 0 })
	req, _ := http.NewRequest("POST", "http://"+d.AdminAddr().String()+"/api/queue/"+id+"/bounce", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bounce: %v %v", resp, err)
	}
	resp.Body.Close()
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	data := string(got.Data)
	if got.From != "" || got.Rcpts[0] != "alice@sluice.test" || !strings.Contains(data, "multipart/report") ||
		!strings.Contains(data, "Action: failed") || !strings.Contains(data, "Subject: to-be-bounced") {
		t.Fatalf("report from <%s> to %v:\n%s", got.From, got.Rcpts, data)
	}
	if _, err := d.Queue().Get(id); err == nil {
		t.Fatal("bounced message still queued")
	}
	if v := value(t, scrape(t, d), `sluice_reports_total\{kind="dsn"\}`); v != 1 {
		t.Errorf("sluice_reports_total{kind=\"dsn\"} %v, want 1", v)
	}
}
