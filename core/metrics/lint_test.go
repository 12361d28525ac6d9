package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Every family Sluice exports passes Prometheus' own naming and help rules
// (promlint, what `promtool check metrics` runs): units in base units and
// as suffixes, counters ending in _total, help on everything. A dashboard
// or alert written against a name cannot be fixed later without breaking
// it, so a bad name must fail here first.
func TestMetricNamesPassPromlint(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := New(Providers{
		Clock:  func() time.Time { return now },
		Queue:  func() (map[string]int, time.Time) { return map[string]int{"active": 1}, now },
		Stages: func() []StageHealth { return []StageHealth{{Name: "spf", Kind: "plugin", State: "running"}} },
		Pebble: func() PebbleStats { return PebbleStats{DiskBytes: 1} },
	})
	// Move every vector, so each family has a series to lint.
	m.ConnOpened("mx")
	m.ConnClosed("mx", CloseTimeout)
	m.ProxyHeaderRefused("mx", "timeout")
	m.EarlyTalker("mx")
	m.BareNewline("mx", BareNormalized)
	m.AuthAttempt("submission", "PLAIN", AuthFailure)
	m.Transaction("mx", Accepted, "")
	m.Recipient("mx", Accepted, "")
	m.QueueCommit(time.Millisecond)
	m.DeliveryStarted()
	m.RateDelayWaiting(1)
	m.ReportQueued("dsn")
	m.TLSReport("https", true)
	m.DeliveryAttempt("example.org", Delivered, time.Second)
	m.DeliveryRecipients("example.org", Delivered, 1)
	m.DeliveryFailure("mailbox_full", "deferred")
	m.StageCall("spf", "mail", "continue", time.Millisecond, true)
	m.StageDryRun("spf", "rcpt", "reject")

	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	// README names each family, or its group as sluice_GROUP_*.
	readme := testlib.README(t)
	seen := 0
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "sluice_") {
			continue
		}
		seen++
		group, _, _ := strings.Cut(strings.TrimPrefix(name, "sluice_"), "_")
		if !strings.Contains(readme, "`"+name+"`") && !strings.Contains(readme, "`sluice_"+group+"_*`") {
			t.Errorf("README names neither %s nor sluice_%s_*", name, group)
		}
	}
	if seen < 20 {
		t.Fatalf("gathered %d sluice_ families, want every one (at least 20)", seen)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
