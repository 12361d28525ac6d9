package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func wantLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(body, "\n"+l+"\n") {
			t.Errorf("missing %q", l)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

func TestCountersAndHistograms(t *testing.T) {
	m := New(Providers{})
	m.ConnOpened("mx")
	m.ConnOpened("mx")
	m.ConnClosed("mx", CloseStage)
	m.Transaction("mx", Accepted, "")
	m.Transaction("mx", Rejected, "stage:spf")
	m.Transaction("mx", Tempfailed, "queue_error")
	m.Recipient("mx", Rejected, "relay_denied")
	m.AuthAttempt("submission", "PLAIN", AuthFailure)
	m.AuthAttempt("submission", "LOGIN", AuthSuccess)
	m.QueueCommit(3 * time.Millisecond)
	m.DeliveryStarted()
	m.DeliveryAttempt("Example.NET.", Delivered, 200*time.Millisecond)
	m.DeliveryRecipients("example.net", Delivered, 2)
	m.DeliveryRecipients("example.net", Failed, 0) // nothing to count
	m.StageCall("spf", "mail", "reject", 2*time.Millisecond, false)
	m.StageCall("spf", "mail", "error", 5*time.Second, true)
	m.StageDryRun("spf", "rcpt", "reject")
	m.RateDelayWaiting(3)
	body := scrape(t, m)
	wantLines(t, body,
		`sluice_smtp_connections_total{listener="mx"} 2`,
		`sluice_smtp_connections_open{listener="mx"} 1`,
		`sluice_smtp_connections_closed_total{listener="mx",reason="stage"} 1`,
		`sluice_smtp_transactions_total{listener="mx",outcome="accepted",reason=""} 1`,
		`sluice_smtp_transactions_total{listener="mx",outcome="rejected",reason="stage:spf"} 1`,
		`sluice_smtp_transactions_total{listener="mx",outcome="tempfailed",reason="queue_error"} 1`,
		`sluice_smtp_recipients_total{listener="mx",outcome="rejected",reason="relay_denied"} 1`,
		`sluice_smtp_auth_attempts_total{listener="submission",mechanism="PLAIN",result="failure"} 1`,
		`sluice_smtp_auth_attempts_total{listener="submission",mechanism="LOGIN",result="success"} 1`,
		`sluice_queue_commit_seconds_count 1`,
		`sluice_delivery_in_flight 0`,
		`sluice_delivery_rate_delay_waiting 3`,
		`sluice_delivery_attempts_total{domain="example.net",outcome="delivered"} 1`,
		`sluice_delivery_recipients_total{domain="example.net",outcome="delivered"} 2`,
		`sluice_delivery_duration_seconds_bucket{outcome="delivered",le="0.25"} 1`,
		`sluice_stage_calls_total{hook="mail",stage="spf",verdict="reject"} 1`,
		`sluice_stage_calls_total{hook="mail",stage="spf",verdict="error"} 1`,
		`sluice_stage_errors_total{hook="mail",stage="spf"} 1`,
		`sluice_stage_dry_run_total{action="reject",hook="rcpt",stage="spf"} 1`,
		`sluice_stage_latency_seconds_count{hook="mail",stage="spf"} 2`,
		`sluice_stage_latency_seconds_bucket{hook="mail",stage="spf",le="0.0025"} 1`,
	)
	if strings.Contains(body, `outcome="failed"`) {
		t.Error("a zero DeliveryRecipients created a series")
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Error("runtime and process collectors missing")
	}
}

func TestDomainCardinalityIsCapped(t *testing.T) {
	m := New(Providers{})
	for i := range MaxDomains + 50 {
		m.DeliveryAttempt(fmt.Sprintf("d%d.example", i), Deferred, time.Second)
	}
	m.DeliveryAttempt("d0.example", Deferred, time.Second) // seen before the cap: keeps its label
	body := scrape(t, m)
	if n := strings.Count(body, "sluice_delivery_attempts_total{"); n != MaxDomains+1 {
		t.Fatalf("%d series, want %d domains + other", n, MaxDomains)
	}
	wantLines(t, body,
		`sluice_delivery_attempts_total{domain="other",outcome="deferred"} 50`,
		`sluice_delivery_attempts_total{domain="d0.example",outcome="deferred"} 2`)

	for i := range MaxReasons + 5 {
		m.Transaction("mx", Rejected, fmt.Sprintf("r%d", i))
	}
	wantLines(t, scrape(t, m), `sluice_smtp_transactions_total{listener="mx",outcome="rejected",reason="other"} 5`)
}

func TestScrapeTimeProviders(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := New(Providers{
		Clock: func() time.Time { return now },
		Queue: func() (map[string]int, time.Time) {
			return map[string]int{"active": 3, "held": 1}, now.Add(-90 * time.Second)
		},
		Stages: func() []StageHealth {
			return []StageHealth{{Name: "spf", Kind: "plugin", State: "running", Restarts: 2},
				{Name: "opendkim", Kind: "milter", State: "down"}}
		},
		Pebble: func() PebbleStats {
			return PebbleStats{DiskBytes: 4096, BlockCacheHits: 7, ReadAmp: 3, L0Files: 2}
		},
	})
	wantLines(t, scrape(t, m),
		`sluice_queue_messages{state="active"} 3`,
		`sluice_queue_messages{state="held"} 1`,
		`sluice_queue_messages{state="quarantined"} 0`,
		`sluice_queue_oldest_seconds 90`,
		`sluice_stage_up{kind="plugin",stage="spf",state="running"} 1`,
		`sluice_stage_up{kind="milter",stage="opendkim",state="down"} 0`,
		`sluice_stage_restarts_total{stage="spf"} 2`,
		`sluice_pebble_disk_bytes 4096`,
		`sluice_pebble_block_cache_hits_total 7`,
		`sluice_pebble_read_amplification 3`,
		`sluice_pebble_l0_files 2`,
	)

	empty := New(Providers{Queue: func() (map[string]int, time.Time) { return nil, time.Time{} }})
	wantLines(t, scrape(t, empty), `sluice_queue_oldest_seconds 0`, `sluice_queue_messages{state="active"} 0`)
}

// A nil *Metrics is what a component gets when nobody wires metrics in:
// every method must be a no-op.
func TestNilMetricsIsNoop(t *testing.T) {
	var m *Metrics
	m.ConnOpened("mx")
	m.ConnClosed("mx", CloseStage)
	m.Transaction("mx", Accepted, "")
	m.Recipient("mx", Rejected, "x")
	m.AuthAttempt("submission", "PLAIN", AuthLocked)
	m.QueueCommit(time.Millisecond)
	m.DeliveryStarted()
	m.DeliveryAttempt("example.net", Delivered, time.Millisecond)
	m.DeliveryRecipients("example.net", Delivered, 1)
	m.RateDelayWaiting(1)
	m.StageCall("s", "data", "continue", time.Millisecond, false)
}

func TestConcurrentUse(t *testing.T) {
	m := New(Providers{})
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				m.DeliveryAttempt(fmt.Sprintf("g%d-%d.example", g, i), Delivered, time.Millisecond)
				m.StageCall("s", "rcpt", "continue", time.Microsecond, false)
			}
		}()
	}
	for range 8 {
		<-done
	}
	body := scrape(t, m)
	if n := strings.Count(body, "sluice_delivery_attempts_total{"); n != MaxDomains+1 {
		t.Fatalf("%d domain series", n)
	}
	wantLines(t, body, `sluice_stage_calls_total{hook="rcpt",stage="s",verdict="continue"} 1600`)
}
