package daemon

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

func scrape(t *testing.T, d *Daemon) string {
	t.Helper()
	resp, err := http.Get("http://" + d.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// value returns the first sample of a metric line matching pattern.
func value(t *testing.T, text, pattern string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + pattern + ` ([0-9.e+-]+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsMoveWithTraffic: the Prometheus endpoint carries connections,
// transactions, deliveries, stage calls, queue and Pebble figures, and they
// move when mail flows.
func TestMetricsMoveWithTraffic(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+actorStage(t, "tag", `{"data": {"*": {"edits": [{"op": "add_header", "name": "X-T", "value": "1"}]}}}`, ""))
	before := scrape(t, d)
	for i := 0; i < 3; i++ {
		if _, err := send(t, d, "metrics"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := send(t, d, "x", "someone@elsewhere.test", "bad address@"); err == nil {
		t.Fatal("bad recipient accepted")
	}
	sink.WaitN(t, 3, 10*time.Second)
	waitEmpty(t, d)
	after := scrape(t, d)
	for _, p := range []string{
		`sluice_smtp_connections_total\{listener="mx"\}`,
		`sluice_smtp_transactions_total\{listener="mx",outcome="accepted",reason=""\}`,
		`sluice_delivery_attempts_total\{domain="127.0.0.1:[0-9]+",outcome="delivered"\}`,
		`sluice_stage_calls_total\{hook="data",stage="tag",verdict="continue"\}`,
	} {
		if b, a := value(t, before, p), value(t, after, p); a < b+3 {
			t.Errorf("%s did not move by 3: %v -> %v", p, b, a)
		}
	}
	// Each accepted message's synced commit is timed; delivery's in-flight
	// gauge is back to zero, and its attempts took some time.
	if b, a := value(t, before, `sluice_queue_commit_seconds_count`), value(t, after, `sluice_queue_commit_seconds_count`); a < b+3 {
		t.Errorf("sluice_queue_commit_seconds_count did not move by 3: %v -> %v", b, a)
	}
	if v := value(t, after, `sluice_delivery_in_flight`); v != 0 {
		t.Errorf("sluice_delivery_in_flight %v after delivery, want 0", v)
	}
	if v := value(t, after, `sluice_delivery_duration_seconds_sum\{outcome="delivered"\}`); v <= 0 {
		t.Errorf("sluice_delivery_duration_seconds_sum %v, want the attempts' time", v)
	}
	for _, want := range []string{`sluice_queue_messages{state="active"} 0`, "sluice_pebble_", "sluice_stage_up{"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(after) {
			t.Errorf("missing %s", want)
		}
	}
}
