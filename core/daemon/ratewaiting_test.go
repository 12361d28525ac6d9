package daemon

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestRateDelayWaitingAdminActions: the admin API's hold and delete, which
// change the queue behind delivery's back, tell the agent, so that
// sluice_delivery_rate_delay_waiting stops counting the message at once.
func TestRateDelayWaitingAdminActions(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+"rate_delay = \"1h\"\n")
	for _, s := range []string{"one", "two", "three"} {
		if _, err := send(t, d, s); err != nil {
			t.Fatal(err)
		}
	}
	sink.WaitN(t, 1, 10*time.Second)
	metric := `sluice_delivery_rate_delay_waiting`
	deadline := time.Now().Add(10 * time.Second)
	for value(t, scrape(t, d), metric) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%s %v, want 2 once the first message went", metric, value(t, scrape(t, d), metric))
		}
		<-time.After(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
	msgs, err := d.Queue().List(0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("queue: %d messages, %v; want the two waiting", len(msgs), err)
	}
	for i, action := range []string{"hold", "delete"} {
		req, _ := http.NewRequest("POST", "http://"+d.AdminAddr().String()+"/api/queue/"+msgs[i].ID+"/"+action, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", action, resp, err)
		}
		resp.Body.Close()
		if v, want := value(t, scrape(t, d), metric), float64(1-i); v != want {
			t.Errorf("%s after the %s: %v, want %v", metric, action, v, want)
		}
	}
	if m, err := d.Queue().Get(msgs[0].ID); err != nil || m.State != envelope.StateHeld {
		t.Errorf("held message: %+v, %v", m, err)
	}
}
