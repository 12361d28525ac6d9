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

// A report returns an original of more than bounce_size_limit (50000 by
// default, Postfix's) as its header only, so a sender that may be forged
// does not get megabytes back; -1 returns it whole.
func TestBounceSizeLimit(t *testing.T) {
	body := strings.Repeat("0123456789 the original body line of the test message\r\n", 1100) // ~60 KB
	for _, tc := range []struct {
		extra string
		whole bool
	}{{"", false}, {"bounce_size_limit = -1\n", true}, {"bounce_size_limit = 100000\n", true}} {
		sink := testlib.NewSink(t, "127.0.0.1:0")
		sink.OnRcpt(func(rcpt string) error {
			if rcpt == "bob@remote.test" {
				return testlib.Perm
			}
			return nil
		})
		d := startDaemon(t, relayTo(sink)+tc.extra)
		msg := "From: <alice@sluice.test>\r\nTo: <bob@remote.test>\r\nSubject: large original\r\n\r\n" + body
		if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		report := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
		hasBody := strings.Contains(report, "the original body line")
		if hasBody != tc.whole || !strings.Contains(report, "Subject: large original") ||
			strings.Contains(report, "text/rfc822-headers") == tc.whole {
			t.Fatalf("%q: report of %d bytes, body returned %v, want %v", tc.extra, len(report), hasBody, tc.whole)
		}
	}
}
