package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/pipeline"
)

func TestPrintDeliveries(t *testing.T) {
	var b strings.Builder
	printDeliveries(&b, nil)
	if got := b.String(); got != "\ndeliveries:\n(no delivery attempt recorded)\n" {
		t.Errorf("no attempts: %q", got)
	}
	b.Reset()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	printDeliveries(&b, []pipeline.DeliveryEvent{
		{Time: at, Attempt: 1, Destination: "dest.test", Recipients: []string{"a@dest.test", "b@dest.test"}, Result: "deferred",
			Reply: "451 4.4.1 No mail server could be reached, will retry", MTASTS: "enforce: certificate not verified"},
		{Time: at.Add(5 * time.Minute), Attempt: 2, Destination: "dest.test", Via: "mx.dest.test[192.0.2.1:25]", Recipients: []string{"a@dest.test"},
			Result: "delivered", Reply: "250 2.0.0 OK", TLS: "TLS1.3", MTASTS: "enforce: ok"},
	})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 5 || lines[1] != "deliveries:" || !strings.HasPrefix(lines[2], "#  TIME ") {
		t.Fatalf("layout:\n%s", b.String())
	}
	for i, want := range [][]string{
		3: {"1  2026-03-01T12:00:00Z", "dest.test", " - ", "deferred", "enforce: certificate not verified", "a@dest.test,b@dest.test", "451 4.4.1 No mail server"},
		4: {"2  2026-03-01T12:05:00Z", "mx.dest.test[192.0.2.1:25]", "delivered", "TLS1.3", "enforce: ok", "250 2.0.0 OK"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}

// The deliver hook's event lists the stages' entries below the table.
func TestPrintDeliverHookStages(t *testing.T) {
	var b strings.Builder
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	printDeliveries(&b, []pipeline.DeliveryEvent{
		{Time: at, Attempt: 1, Destination: "deliver hook", Recipients: []string{"no@dest.test"}, Result: "failed",
			Reply: "550 5.7.1 not to them", Stages: []pipeline.TraceEntry{
				{Stage: "watch", Hook: "deliver", Action: "continue", Rcpt: "no@dest.test", LatencyMs: 0.1},
				{Stage: "policy", Hook: "deliver", Action: "reject", Rcpt: "no@dest.test", Reply: "550 5.7.1 not to them", LatencyMs: 0.2},
			}},
	})
	out := b.String()
	i := strings.Index(out, "deliver hook, attempt 1:\n")
	if i < 0 {
		t.Fatalf("no deliver hook section:\n%s", out)
	}
	stages := strings.Split(strings.TrimSuffix(out[i:], "\n"), "\n")
	if len(stages) != 4 || !strings.HasPrefix(stages[1], "STAGE") ||
		!strings.Contains(stages[2], "watch") || !strings.Contains(stages[3], "policy") ||
		!strings.Contains(stages[3], "reject") || !strings.Contains(stages[3], "<no@dest.test> 550 5.7.1 not to them") {
		t.Fatalf("deliver hook section:\n%s", out[i:])
	}
}

// An attempt that went on to fallback relays says so below the table.
func TestPrintDeliveriesFallbackRelay(t *testing.T) {
	var b strings.Builder
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	printDeliveries(&b, []pipeline.DeliveryEvent{
		{Time: at, Attempt: 1, Destination: "dest.test", Via: "backup.example.net[192.0.2.9]:25", Recipients: []string{"a@dest.test"},
			Result: "delivered", Reply: "250 2.0.0 OK", Fallback: "backup.example.net:25"},
	})
	if !strings.Contains(b.String(), "\nfallback_relay, attempt 1: backup.example.net:25 tried after dest.test\n") {
		t.Errorf("no fallback_relay line:\n%s", b.String())
	}
}
